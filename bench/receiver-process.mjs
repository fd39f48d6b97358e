// Running one benchmark receiver process: pinned to a CPU where the machine allows, its peer
// started once it prints `READY <port>`, its figures read from `RESULT <json>`. Shared by
// bench/run.mjs and bench/tls.mjs, with the median of same-round ratios they judge by.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";

/** Receiver and peer on separate CPUs (Linux with two or more, and taskset). */
export const canPin = process.platform === "linux" && os.cpus().length >= 2 && existsSync("/usr/bin/taskset");

/** `cmd args` to run on `cpu` where pinning is possible, else unchanged. */
export const pinned = (cpu, cmd, args) => (canPin ? ["/usr/bin/taskset", ["-c", String(cpu), cmd, ...args]] : [cmd, args]);

/**
 * Runs `cmd args` in `cwd`; `peer(port)` starts its peer process once the receiver is ready and
 * returns it (killed when the receiver exits). Resolves with the RESULT, rejects naming `label`.
 */
export function runReceiver(cmd, args, { cwd, peer, label }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    let sender;
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const ready = /READY (\d+)/.exec(out);
      if (ready && !sender && peer) sender = peer(Number(ready[1]));
    });
    child.on("close", () => {
      clearTimeout(timer);
      sender?.kill();
      const result = /RESULT (.*)/.exec(out);
      if (result) resolve(JSON.parse(result[1]));
      else reject(new Error(`${label}: no result\n${out}`));
    });
  });
}

/**
 * The median over `results.rounds` of `round[a][key] / round[b][key]`, each pair measured in the
 * same round, one right after the other: on a shared machine whose speed drifts between rounds,
 * steadier than a ratio of two bests taken from different rounds.
 */
export function pairedRatio(results, a, b, key) {
  const ratios = results.rounds.map((round) => round[a][key] / round[b][key]).sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  return ratios.length % 2 === 1 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
}
