#!/usr/bin/env node
// `npm run build`: Deno's declarations for the Deno adapter's `.d.ts`, then tsup
// (ESM and CJS for every entry, with `.d.ts` / `.d.cts`).
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, "scripts", "deno-types.mjs")], { stdio: "inherit" });
execFileSync(join(root, "node_modules", ".bin", "tsup"), { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
