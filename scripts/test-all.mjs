#!/usr/bin/env node
// `npm test`: type checks, the package, examples and demo, then the one conformance suite and
// the core unit tests on Node 20 (the machine's), 22, 24 and 26 (vitest), Deno (deno test) and
// Bun (bun test). Runtimes run one after another so the timing-sensitive cases do not fight
// over the machine's 2 cores; within a runtime four test files run at once (see WORKERS).
// Exits non-zero if any fails. Each test runner also writes a machine-readable report
// (.cache/test-reports/), from which the summary lists the skipped cases per runtime by name,
// and the failed ones with their message on one line.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { junitFailures, junitSkips, vitestFailures, vitestSkips } from "./test-reports.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
const reports = join(root, ".cache", "test-reports");
const reportOf = (name, ext) => join(reports, `${name}.${ext}`);
/** vitest keeps its human output and writes JSON beside it; deno and bun write JUnit XML. */
const vitestArgs = (name) => ["--reporter=default", "--reporter=json", `--outputFile.json=${reportOf(name, "json")}`];

/** Every test file, as the runners find them under test/. */
const testFiles = readdirSync(join(root, "test"), { recursive: true })
  .filter((f) => /\.test\.ts$/.test(f))
  .map((f) => `./test/${f.replaceAll("\\", "/")}`)
  .sort();
/**
 * Test files run four at a time on every runtime: the cases mostly wait on sockets and timers,
 * not the CPU (with two at a time a Node line kept about half of a 2-core machine busy), and
 * every bound in the suite allows for it. vitest has four worker processes (vitest.config.ts);
 * Deno and Bun run one file at a time, so their files go to four processes at once (not Deno's
 * --parallel, whose workers share one process: a file that counts the process's descriptors
 * would count another's), balanced by how long each file took (Bun, 2026-12-01; the rest about
 * 2 s each).
 */
const WORKERS = 4;
/** Seconds a file took, for the files far above the rest. */
const SECONDS = {
  "conformance/tls-endings": 33,
  "conformance/helpers": 21,
  "conformance/process-exit": 21,
  "conformance/liveness": 16,
  "conformance/tls-handshakes": 12,
  "conformance/write-failures": 12,
  "conformance/hostile": 9,
  "conformance/writing": 9,
  "conformance/ending": 9,
  "core/conn-core": 9,
};
const secondsOf = (file) => SECONDS[file.replace(/^\.\/test\/|\.test\.ts$/g, "")] ?? 2;
/** The files in WORKERS groups of about equal time: the longest first, each to the least loaded group. */
const shards = Array.from({ length: WORKERS }, () => ({ files: [], seconds: 0 }));
for (const file of [...testFiles].sort((a, b) => secondsOf(b) - secondsOf(a))) {
  const shard = shards.reduce((least, s) => (s.seconds < least.seconds ? s : least));
  shard.files.push(file);
  shard.seconds += secondsOf(file);
}
const denoArgs = (files, i) => ["test", "--allow-all", "--no-check", `--junit-path=${reportOf(`deno-${i + 1}`, "xml")}`, ...files];
const bunArgs = (
  files,
  i,
) => ["test", "--timeout", "120000", "--reporter=junit", `--reporter-outfile=${reportOf(`bun-${i + 1}`, "xml")}`, ...files];

const runs = [
  // Formatting and lint are tests: a mis-formatted file or a lint error fails `npm test` (config in deno.json).
  { name: "fmt", cmd: bin("deno"), args: ["fmt", "--check"] },
  { name: "lint", cmd: bin("deno"), args: ["lint"] },
  { name: "tsc", cmd: bin("tsc"), args: ["-p", "tsconfig.json"] },
  { name: "tsc (bun)", cmd: bin("tsc"), args: ["-p", "tsconfig.bun.json"] },
  { name: "tsc (workerd)", cmd: bin("tsc"), args: ["-p", "tsconfig.workerd.json"] },
  { name: "jsr", cmd: bin("deno"), args: ["publish", "--dry-run", "--allow-dirty"] },
  { name: "dev install", cmd: process.execPath, args: ["scripts/check-dev-install.mjs"], count: plainCounts },
  { name: "doc snippets", cmd: process.execPath, args: ["scripts/check-doc-snippets.mjs"], count: plainCounts },
  { name: "package", cmd: process.execPath, args: ["scripts/test-package.mjs"], count: plainCounts },
  { name: "examples", cmd: process.execPath, args: ["scripts/test-examples.mjs"], count: plainCounts },
  {
    name: "node20",
    cmd: process.execPath,
    args: [vitest, "run", ...vitestArgs("node20")],
    count: vitestCounts,
    skips: vitestSkips,
    failures: vitestFailures,
    report: reportOf("node20", "json"),
  },
  ...["22", "24", "26"].map((major) => ({
    name: `node${major}`,
    cmd: join(root, "node_modules", `node${major}`, "bin", "node"),
    args: [vitest, "run", ...vitestArgs(`node${major}`)],
    count: vitestCounts,
    skips: vitestSkips,
    failures: vitestFailures,
    report: reportOf(`node${major}`, "json"),
    // Optional (scripts/node-lines): absent on a machine that is not linux/x64. A named skip
    // there; under CI the whole matrix must run, so a missing binary fails.
    missing: !existsSync(join(root, "node_modules", `node${major}`, "bin", "node")),
  })),
  {
    name: "workerd",
    cmd: process.execPath,
    args: [vitest, "run", "--config", "vitest.workerd.config.ts", ...vitestArgs("workerd")],
    count: vitestCounts,
    skips: vitestSkips,
    failures: vitestFailures,
    report: reportOf("workerd", "json"),
  },
  {
    name: "deno",
    cmd: bin("deno"),
    shards: shards.map((s, i) => denoArgs(s.files, i)),
    count: denoCounts,
    skips: junitSkips,
    failures: junitFailures,
    report: shards.map((_, i) => reportOf(`deno-${i + 1}`, "xml")),
  },
  {
    name: "bun",
    cmd: bin("bun"),
    shards: shards.map((s, i) => bunArgs(s.files, i)),
    count: bunCounts,
    skips: junitSkips,
    failures: junitFailures,
    report: shards.map((_, i) => reportOf(`bun-${i + 1}`, "xml")),
  },
];

// deno-lint-ignore no-control-regex -- terminal colour codes begin with ESC
const strip = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");

function plainCounts(out) {
  const m = strip(out).match(/^(\d+) passed, (\d+) failed$/m);
  return m && { passed: Number(m[1]), failed: Number(m[2]) };
}
function vitestCounts(out) {
  const m = strip(out).match(/Tests\s+(?:(\d+) failed \| )?(\d+) passed/);
  return m && { passed: Number(m[2]), failed: Number(m[1] ?? 0) };
}
function denoCounts(out) {
  const m = strip(out).match(/\| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/);
  return m && { passed: Number(m[1]), failed: Number(m[3]) };
}
function bunCounts(out) {
  const text = strip(out);
  const pass = text.match(/^\s*(\d+) pass$/m);
  const fail = text.match(/^\s*(\d+) fail$/m);
  return pass && { passed: Number(pass[1]), failed: Number(fail?.[1] ?? 0) };
}

/** Runs one test process to its end, its output (stdout then stderr) kept for the log. */
function runChild(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    const out = [];
    const err = [];
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.on("data", (b) => err.push(b));
    child.on("error", (e) => err.push(Buffer.from(`${e}\n`)));
    child.on("close", (status) => resolve({ status, output: Buffer.concat(out).toString() + Buffer.concat(err).toString() }));
  });
}

/** One list of skipped names from each shard's report; undefined if a report is missing. */
function mergeSkips(lists) {
  return lists.some((l) => l === undefined) ? undefined : lists.flat();
}

const only = process.argv.slice(2);
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });
const results = [];
const inCi = Boolean(process.env.CI);
for (const run of runs.filter((r) => only.length === 0 || only.includes(r.name))) {
  if (run.missing) {
    const why = `node_modules/${run.name}/bin/node is not installed (an optional dependency: linux/x64 only)`;
    console.log(`\n=== ${run.name} ===\n${inCi ? "FAIL" : "skipped"}: ${why}`);
    results.push({ name: run.name, ok: !inCi, missing: why, seconds: 0 });
    continue;
  }
  const version = /^node\d/.test(run.name) ? ` (${spawnSync(run.cmd, ["--version"], { encoding: "utf8" }).stdout?.trim()})` : "";
  run.label = run.name + version;
  console.log(`\n=== ${run.label} ===`);
  const started = Date.now();
  const children = await Promise.all((run.shards ?? [run.args]).map((args) => runChild(run.cmd, args, run.env)));
  let counts = run.count ? { passed: 0, failed: 0 } : undefined;
  for (const child of children) {
    process.stdout.write(child.output);
    const shardCounts = run.count?.(child.output);
    counts = counts && shardCounts ? { passed: counts.passed + shardCounts.passed, failed: counts.failed + shardCounts.failed } : null;
  }
  const ok = children.every((c) => c.status === 0) && (!run.count || (counts !== null && counts.failed === 0 && counts.passed > 0));
  const skipped = run.skips ? mergeSkips([run.report].flat().map(run.skips)) : undefined;
  const failures = run.failures ? [run.report].flat().flatMap((file) => run.failures(file) ?? []) : [];
  results.push({ name: run.label, ok, counts, skipped, failures, seconds: (Date.now() - started) / 1000 });
}

console.log("\n=== summary ===");
let passed = 0;
let failed = 0;
for (const r of results) {
  const skips = r.skipped === undefined ? "" : `, ${r.skipped.length} skipped`;
  const detail = r.missing
    ? `skipped: ${r.missing}`
    : r.counts
    ? `${r.counts.passed} passed, ${r.counts.failed} failed${skips}`
    : r.ok
    ? "ok"
    : "failed";
  const status = r.missing && r.ok ? "SKIP" : r.ok ? "ok  " : "FAIL";
  console.log(`${status} ${r.name.padEnd(18)} ${detail} (${r.seconds.toFixed(1)} s)`);
  for (const name of r.skipped ?? []) console.log(`       skipped: ${name}`);
  for (const name of r.failures ?? []) console.log(`       failed: ${name}`);
  if (r.counts) {
    passed += r.counts.passed;
    failed += r.counts.failed;
  }
  if (!r.ok && !(r.counts && r.counts.failed > 0)) failed += 1;
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
