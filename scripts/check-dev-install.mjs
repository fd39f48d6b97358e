#!/usr/bin/env node
// A dev install on any contributor's machine: `npm install` must not fail on macOS, Windows or
// arm64 Linux. npm refuses (EBADPLATFORM) a package whose `os`/`cpu` exclude the machine unless
// every path to it is optional, and `npm install --os=darwin --cpu=arm64 --dry-run` cannot show
// it: npm checks non-optional packages against the real machine only. So this reads the lock the
// way npm's ideal tree does: for each foreign platform, every package that platform excludes
// must be optional (npm then skips it). It also checks that nothing of the test tooling rides
// along to users: the published manifest has no dependencies of any kind.
// Usage: node scripts/check-dev-install.mjs [package-lock.json]
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lockPath = process.argv[2] ?? join(root, "package-lock.json");
const lock = JSON.parse(readFileSync(lockPath, "utf8"));
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

const TARGETS = [
  { os: "darwin", cpu: "arm64" },
  { os: "darwin", cpu: "x64" },
  { os: "win32", cpu: "x64" },
  { os: "linux", cpu: "arm64" },
  { os: "linux", cpu: "x64" },
];

/** npm-install-checks' rule: a list of allowed values, or of `!excluded` ones. */
function allows(field, value) {
  if (field === undefined) return true;
  const list = Array.isArray(field) ? field : [field];
  if (list.length === 0 || list.includes("any")) return true;
  if (list.includes(`!${value}`)) return false;
  const positive = list.filter((v) => !v.startsWith("!"));
  return positive.length === 0 || positive.includes(value);
}

const problems = [];
for (const field of ["dependencies", "optionalDependencies", "peerDependencies", "bundleDependencies"]) {
  const names = Object.keys(manifest[field] ?? {});
  if (names.length > 0) problems.push(`package.json ${field} would be installed by every user: ${names.join(", ")}`);
}
let checked = 0;
for (const target of TARGETS) {
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (path === "" || entry.link) continue;
    checked += 1;
    if (allows(entry.os, target.os) && allows(entry.cpu, target.cpu)) continue;
    if (!entry.optional) {
      problems.push(
        `${target.os}/${target.cpu}: ${path} (${
          entry.name ?? ""
        }@${entry.version}, os ${entry.os}, cpu ${entry.cpu}) is not optional: npm install fails with EBADPLATFORM`,
      );
    }
  }
}
for (const p of problems) console.log(`FAIL ${p}`);
console.log(`${TARGETS.length} platforms, ${checked} lock entries checked`);
console.log(`${problems.length === 0 ? 1 : 0} passed, ${problems.length === 0 ? 0 : 1} failed`);
process.exit(problems.length === 0 ? 0 : 1);
