#!/usr/bin/env node
// edgechain-new: start a TypeScript plugin project from template/.
//
//   node guest-sdk/js/bin/edgechain-new.mjs <dir> [--name NAME] [--sdk PATH]
//
// Copies template/ into <dir> (which must not exist or be empty), fills in
// {{name}} (default: the directory's name), {{lib_name}} (the name with `-` read as
// `_`, which the component file is called after, as in every language) and {{sdk}} (the SDK directory,
// relative to <dir>; default this SDK), and names gitignore/npmrc with their
// dots (npm pack would drop the dotted names). Then: cd <dir> && npm install
// && npm test && npm run build.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SDK = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const opt = (flag) => {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const nameArg = opt("--name");
const sdkArg = opt("--sdk");
if (argv.length !== 1 || argv[0].startsWith("-")) {
  console.error("usage: edgechain-new <dir> [--name NAME] [--sdk PATH]");
  process.exit(2);
}
const dir = resolve(argv[0]);
if (existsSync(dir) && readdirSync(dir).length > 0) {
  console.error(`edgechain-new: error: ${dir} exists and is not empty`);
  process.exit(1);
}
const name = nameArg ?? basename(dir);
if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
  console.error(`edgechain-new: error: \`${name}\` is not a valid package name (lower-case letters, digits, . _ -)`);
  process.exit(1);
}
const sdk = relative(dir, sdkArg ? resolve(sdkArg) : SDK) || ".";
const rename = { gitignore: ".gitignore", npmrc: ".npmrc" };

function copy(from, to) {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    const src = join(from, entry);
    const dst = join(to, rename[entry] ?? entry);
    if (statSync(src).isDirectory()) copy(src, dst);
    else writeFileSync(dst, readFileSync(src, "utf8").replaceAll("{{name}}", name).replaceAll("{{lib_name}}", name.replaceAll("-", "_")).replaceAll("{{sdk}}", sdk));
  }
}
copy(join(SDK, "template"), dir);
console.error(`created ${relative(process.cwd(), dir) || dir} (plugin ${name}); next: cd ${relative(process.cwd(), dir) || "."} && npm install && npm test && npm run build`);
