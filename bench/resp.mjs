// The RESP benchmark's driver, used by bench/run.mjs: for one runtime, the real `redis-benchmark`
// (Debian's redis-tools) against bench/resp-server.ts's hangup, raw and floor servers, at -P 1 and -P 32,
// the two variants alternating, the server on CPU 0 and the client on CPU 1. Each server is
// checked (bench/resp-check.mjs: pipelined commands split at every boundary) before it is timed,
// then warmed up by one untimed pass of the same requests: the JIT compiles each server's hot path
// meanwhile, a one-time cost that is not the rate of a running server (on Bun, hangup's compiles took
// two thirds of its extra CPU in a cold -P 32 pass, and none after a few million requests).
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { check } from "./resp-check.mjs";

const TESTS = ["PING_INLINE", "PING_MBULK", "SET", "GET"];
/**
 * hangup, the hand-written raw server, and the floor: the raw server with one `await` per
 * command (bench/resp-server.ts), the least any one-await-per-message API can cost.
 */
const VARIANTS = ["hangup", "raw", "floor"];

/** The redis-benchmark binary, or undefined when redis-tools is not installed. */
export function redisBenchmark() {
  for (const path of ["/usr/bin/redis-benchmark", "/usr/local/bin/redis-benchmark"]) if (existsSync(path)) return path;
  try {
    return execFileSync("sh", ["-c", "command -v redis-benchmark"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Starts `bench/resp-server.ts <variant>`; resolves once it listens, with its port and label. */
function startServer(root, command, variant) {
  const [cmd, args] = command(variant);
  const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`resp ${variant}: not ready in 60 s\n${out}`));
    }, 60_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const ready = /READY (\d+) (.*)\n/.exec(out);
      if (ready) {
        clearTimeout(timer);
        resolve({ child, port: Number(ready[1]), label: ready[2] });
      }
    });
    child.on("close", () => reject(new Error(`resp ${variant}: exited before READY\n${out}`)));
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("close", resolve);
    child.kill("SIGKILL");
  });
}

/** One redis-benchmark run: requests per second by test name. */
function runClient(binary, pinned, port, requests, pipeline) {
  const args = [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-n",
    String(requests),
    "-c",
    "50",
    "-t",
    "ping,set,get",
    "-P",
    String(pipeline),
    "--csv",
  ];
  const [cmd, argv] = pinned(1, binary, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (err += chunk));
    child.on("close", (code) => {
      clearTimeout(timer);
      const rps = {};
      for (const match of out.matchAll(/^"([A-Z_]+)","([\d.]+)"/gm)) rps[match[1]] = Number(match[2]);
      if (TESTS.every((test) => rps[test] > 0)) resolve(rps);
      else reject(new Error(`redis-benchmark -P ${pipeline} exited ${code}: ${out}${err}`));
    });
  });
}

/** All requests over all seconds: the harmonic mean of the tests' requests per second. */
export const overall = (rps) => TESTS.length / TESTS.reduce((sum, test) => sum + 1 / rps[test], 0);

/**
 * Runs the benchmark for one runtime. `command(variant)` gives the pinned server command line.
 * Resolves with `{ [pipeline]: { hangup, raw, floor } }`, each the best of `repeat` runs per test, with
 * the label of the variant that ran.
 */
export async function respBench({ root, command, pinned, requests, repeat, log = () => {} }) {
  const binary = redisBenchmark();
  if (!binary) throw new Error("redis-benchmark not found: install redis-tools (apt-get install -y redis-tools)");
  const results = {};
  for (const pipeline of [1, 32]) {
    const best = (results[pipeline] = {});
    for (let round = 0; round < repeat; round++) {
      // Alternating, and each round starts with another one, so drifts in load hit all alike.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
      for (const variant of order) {
        const server = await startServer(root, command, variant);
        try {
          await check(server.port);
          await runClient(binary, pinned, server.port, requests, pipeline); // the warm-up
          const rps = await runClient(binary, pinned, server.port, requests, pipeline);
          log(`resp -P ${pipeline} ${variant}: ${TESTS.map((t) => `${t} ${Math.round(rps[t])}`).join(", ")}`);
          const kept = (best[variant] ??= { label: server.label, rps: {} });
          for (const test of TESTS) kept.rps[test] = Math.max(kept.rps[test] ?? 0, rps[test]);
        } finally {
          await stopServer(server.child);
        }
      }
    }
    for (const variant of VARIANTS) best[variant].overall = overall(best[variant].rps);
  }
  return results;
}

export { TESTS };
