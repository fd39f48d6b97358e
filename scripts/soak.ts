/**
 * `npm run soak -- --minutes N [--count 2000]`: the fault storm in a loop, on the runtime
 * that runs this file (`npm run soak` is Node; `deno run -A scripts/soak.ts`,
 * `bun scripts/soak.ts` for the others). Prints memory and handle counts each minute and
 * exits non-zero if any storm disagreed with the peer's truth. Not part of CI.
 */
import process from "node:process";
import { withPeer } from "../test/support/peer.ts";
import { runtime } from "../test/support/runtime.ts";
import { activeTimers, openFds, runStorm } from "../test/support/storm.ts";

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const minutes = arg("minutes", 1);
const count = arg("count", 2000);
const started = Date.now();
const deadline = started + minutes * 60_000;
let storms = 0;
let connections = 0;
let problems = 0;
let nextReport = started;
const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MiB`;

function report(): void {
  const memory = process.memoryUsage();
  const timers = activeTimers();
  console.log(
    `${((Date.now() - started) / 60_000).toFixed(1).padStart(5)} min  storms ${storms}  connections ${connections}  ` +
      `disagreements ${problems}  rss ${mib(memory.rss)}  heap ${mib(memory.heapUsed)}  fds ${openFds()}` +
      (timers === undefined ? "" : `  timers ${timers}`),
  );
}

console.log(`soak on ${runtime} ${process.version}: storms of ${count} connections for ${minutes} min`);
report();
await withPeer(async (peer) => {
  while (Date.now() < deadline) {
    const result = await runStorm(peer, { count, concurrency: 200, idle: 500, classes: { neverread: 12, teardown: 12 } });
    storms++;
    connections += result.count;
    problems += result.problems.length + result.handlerFailures.length;
    for (const problem of result.problems.slice(0, 3)) console.log("  disagreement:", problem);
    if (Date.now() >= nextReport + 60_000) {
      nextReport += 60_000;
      report();
    }
  }
});
(globalThis as { gc?: () => void }).gc?.();
report();
process.exit(problems === 0 ? 0 : 1);
