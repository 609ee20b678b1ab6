// `edgechain-new` makes a project whose own tests pass and whose types check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");

test("a new project passes its tests and type-checks", () => {
  const tmp = mkdtempSync(join(tmpdir(), "edgechain-new-"));
  try {
    const dir = join(tmp, "my-plugin");
    const made = spawnSync(process.execPath, [join(sdk, "bin", "edgechain-new.mjs"), dir], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    assert.equal(pkg.name, "my-plugin");
    assert.match(pkg.dependencies["@edgechain/sdk"], /^file:/);
    // What `npm install` does for a file: dependency, without npm.
    mkdirSync(join(dir, "node_modules", "@edgechain"), { recursive: true });
    symlinkSync(sdk, join(dir, "node_modules", "@edgechain", "sdk"));
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // a nested test run reports on its own stdout
    const t = spawnSync(process.execPath, ["--import", "@edgechain/sdk/register-ts", "--test", "--test-reporter=tap", "test/plugin.test.ts"], { cwd: dir, encoding: "utf8", env });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    assert.match(t.stdout, /# pass 3/);
    const tsc = spawnSync(process.execPath, [join(sdk, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { encoding: "utf8" });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    assert.notEqual(spawnSync(process.execPath, [join(sdk, "bin", "edgechain-new.mjs"), dir], { encoding: "utf8" }).status, 0, "refuses a non-empty directory");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("the SDK's own types check (types/*.d.ts and a TypeScript fixture)", () => {
  const tsc = spawnSync(process.execPath, [join(sdk, "node_modules", "typescript", "bin", "tsc"), "-p", join(sdk, "tsconfig.json")], { encoding: "utf8" });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});
