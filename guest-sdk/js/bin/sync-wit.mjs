#!/usr/bin/env node
// Copy the repository's wit/ (the edgechain:plugin contract) into the package
// (wit/edgechain-plugin/) before `npm pack`/`npm publish`, so a published SDK
// builds without the repository. Builds inside the repository read ../../wit.
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(sdk, "..", "..", "wit");
const to = join(sdk, "wit", "edgechain-plugin");
mkdirSync(to, { recursive: true });
for (const f of readdirSync(from)) if (f.endsWith(".wit")) copyFileSync(join(from, f), join(to, f));
console.error(`copied ${from} -> ${to}`);
