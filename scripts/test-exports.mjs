#!/usr/bin/env node
// Builds the package, installs it by name into a temporary project (a symlink in its
// node_modules), and imports "hangup" from Node, Deno and Bun: each must get its own adapter.
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
execFileSync(bin("tsup"), { cwd: root, stdio: "inherit" });

const project = mkdtempSync(join(tmpdir(), "hangup-exports-"));
let failures = 0;
let passes = 0;
try {
  mkdirSync(join(project, "node_modules"));
  symlinkSync(root, join(project, "node_modules", "hangup"), "dir");
  writeFileSync(join(project, "package.json"), JSON.stringify({ type: "module", dependencies: { hangup: "*" } }));
  copyFileSync(join(root, "test", "exports", "probe.mjs"), join(project, "probe.mjs"));
  const runtimes = {
    node: [process.execPath, ["probe.mjs"]],
    deno: [bin("deno"), ["run", "--allow-all", "--node-modules-dir=manual", "probe.mjs"]],
    bun: [bin("bun"), ["probe.mjs"]],
  };
  for (const [name, [cmd, args]] of Object.entries(runtimes)) {
    let verdict;
    try {
      const out = execFileSync(cmd, args, { cwd: project, encoding: "utf8", timeout: 60_000 }).trim().split("\n").pop();
      const r = JSON.parse(out);
      const ok = r.runtime === name && r.sameResetClass && r.crossInstanceof && r.hasAdapter && r.roundTrip === "ping";
      verdict = ok ? "ok" : `wrong: ${out}`;
    } catch (err) {
      verdict = `failed: ${err.message}`;
    }
    if (verdict === "ok") passes++;
    else failures++;
    console.log(`${name.padEnd(5)} import "hangup" → ${verdict}`);
  }
} finally {
  rmSync(project, { recursive: true, force: true });
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
