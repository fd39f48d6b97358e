#!/usr/bin/env node
// `npm test`: typecheck, then the one conformance suite (and the core unit tests) on every runtime.
// Runtimes run one after another so timing-sensitive cases do not fight over the 2 cores.
import { spawnSync } from "node:child_process";

const runs = [
  { name: "typecheck", cmd: "npx", args: ["tsc", "-p", "tsconfig.json"] },
  { name: "node", cmd: "npx", args: ["vitest", "run"], runtime: true },
];

const results = [];
for (const run of runs) {
  console.log(`\n=== ${run.name} ===`);
  const started = Date.now();
  const child = spawnSync(run.cmd, run.args, { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", maxBuffer: 64 << 20 });
  process.stdout.write(child.stdout ?? "");
  const counts = run.runtime ? countCases(child.stdout ?? "") : undefined;
  results.push({ name: run.name, ok: child.status === 0, counts, seconds: (Date.now() - started) / 1000 });
}

function countCases(out) {
  const plain = out.replace(/\x1b\[[0-9;]*m/g, "");
  const vitest = plain.match(/Tests\s+(?:(\d+) failed \| )?(\d+) passed/);
  if (vitest) return { passed: Number(vitest[2]), failed: Number(vitest[1] ?? 0) };
  return undefined;
}

console.log("\n=== summary ===");
let passed = 0;
let failed = 0;
for (const r of results) {
  const c = r.counts ? `${r.counts.passed} passed, ${r.counts.failed} failed` : r.ok ? "ok" : "FAILED";
  console.log(`${r.name.padEnd(10)} ${r.ok ? "ok  " : "FAIL"} ${c} (${r.seconds.toFixed(1)} s)`);
  if (r.counts) {
    passed += r.counts.passed;
    failed += r.counts.failed;
  }
  if (!r.ok && !r.counts) failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
