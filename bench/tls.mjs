#!/usr/bin/env node
// `node bench/tls.mjs [--quick] [--runtime node|deno|bun]`: TLS receive throughput, hangup (node:tls
// over hangup's own TCP socket) beside the runtime's own TLS server socket, CPU seconds per GiB of
// the receiving process, same run, alternating variants. The sender is always a Node node:tls client
// in its own process; with two CPUs, receiver and sender are pinned to one each.
// `npm run bench` runs it through `tlsCase` (one row per runtime in the benchmark table).
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { canPin, pairedRatio, pinned, runReceiver } from "./receiver-process.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
// Timed after a warm-up (the JIT's one-time work), over the GiB that follows. On Bun the JIT's top
// tier still compiles hangup's path after 256 MiB (docs/benchmarks.md, "What each miss means").
const sizes = (quick) => ({ bytes: quick ? 64 << 20 : 5 << 28, warmUp: quick ? 16 << 20 : 1 << 28, repeat: quick ? 1 : 3 });

const receivers = {
  node: (args) => [process.execPath, ["--import", "tsx", "bench/tls-receiver.ts", ...args]],
  deno: (args) => [bin("deno"), ["run", "--allow-all", "--no-check", "bench/tls-receiver.ts", ...args]],
  bun: (args) => [bin("bun"), ["bench/tls-receiver.ts", ...args]],
};

const SENDER = `
const tls = require("node:tls");
const [port, total] = process.argv.slice(1).map(Number);
const chunk = Buffer.alloc(65536, 7);
const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      sent += chunk.length;
      if (!socket.write(sent <= total ? chunk : chunk.subarray(0, chunk.length - (sent - total)))) return socket.once("drain", pump);
    }
    socket.end();
  };
  pump();
});
socket.on("error", (err) => { console.error(err); process.exit(1); });
socket.on("close", () => process.exit(0));
`;

function measure(runtime, variant, BYTES, warmUp) {
  const [cmd, args] = pinned(0, ...receivers[runtime]([variant, String(BYTES), String(warmUp)]));
  const peer = (port) => {
    const [scmd, sargs] = pinned(1, process.execPath, ["-e", SENDER, String(port), String(BYTES)]);
    return spawn(scmd, sargs, { stdio: "inherit" });
  };
  return runReceiver(cmd, args, { cwd: root, peer, label: `${runtime} ${variant}` });
}

/**
 * Each variant's best (lowest CPU per GiB) of the runs, interleaved; `rounds` keeps every run,
 * for ratios taken within one round.
 */
async function bestOf(runtime, quick) {
  const { bytes, warmUp, repeat } = sizes(quick);
  const best = {};
  const rounds = [];
  for (let i = 0; i < repeat; i++) {
    const round = {};
    rounds.push(round);
    for (
      const variant of runtime === "node"
        ? ["native", "duplex-tls", "duplex-tls-await", "hangup"]
        : ["native", "node-tls", "duplex-tls", "duplex-tls-await", "hangup"]
    ) {
      const r = (round[variant] = await measure(runtime, variant, bytes, warmUp));
      if (r.received !== bytes) throw new Error(`${runtime} ${variant}: received ${r.received} of ${bytes} (${r.how})`);
      if (!best[variant] || r.cpuSecondsPerGiB < best[variant].cpuSecondsPerGiB) best[variant] = r;
    }
  }
  Object.defineProperty(best, "rounds", { value: rounds, enumerable: false });
  return best;
}

/**
 * The TLS case of `npm run bench` (bench/run.mjs): `results` for bench/results, and `row`, the
 * arguments of its table row. hangup runs node:tls over a stream it feeds from its own TCP socket
 * (so it still tells FIN from RST and sees a truncation). Its layer's cost is hangup against
 * node:tls over such a stream without hangup (`duplex-tls`, the floor of that design); beside it,
 * the runtime's own TLS socket and, on Deno and Bun, the runtime's node:tls server socket.
 */
export async function tlsCase(runtime, { quick }) {
  const best = await bestOf(runtime, quick);
  const floor = best["duplex-tls"];
  const ratio = best.hangup.cpuSecondsPerGiB / floor.cpuSecondsPerGiB;
  const paired = pairedRatio(best, "hangup", "duplex-tls", "cpuSecondsPerGiB");
  const mainThread = pairedRatio(best, "hangup", "duplex-tls", "mainCpuSecondsPerGiB");
  const f = (n) => n.toFixed(2);
  const server = best["node-tls"] ?? best.native;
  const baselines = [
    `node:tls over a stream fed from the TCP socket, without hangup ${f(floor.cpuSecondsPerGiB)} (each chunk handed to an awaiting loop: ${
      f(best["duplex-tls-await"].cpuSecondsPerGiB)
    })`,
    `${runtime}'s TLS socket ${f(best.native.cpuSecondsPerGiB)} (${best.native.wallMiBps.toFixed(0)} MiB/s)`,
    ...(best["node-tls"] ? [`its node:tls server ${f(best["node-tls"].cpuSecondsPerGiB)}`] : []),
    `the stream alone costs ${f(floor.cpuSecondsPerGiB / server.cpuSecondsPerGiB)}× the ${
      best["node-tls"] ? "node:tls server" : "native socket"
    }`,
  ];
  return {
    results: {
      ...best,
      paired: {
        rounds: best.rounds.length,
        overStream: paired,
        mainThreadOverStream: mainThread,
        eachRound: best.rounds.map((round) => round.hangup.cpuSecondsPerGiB / round["duplex-tls"].cpuSecondsPerGiB),
      },
    },
    row: [
      runtime,
      "TLS throughput (CPU s/GiB)",
      `${f(best.hangup.cpuSecondsPerGiB)} (${best.hangup.wallMiBps.toFixed(0)} MiB/s)`,
      baselines.join(", "),
      `${f(paired)}× over a stream (same-round median; bests: ${f(ratio)}×; the main thread alone ${f(mainThread)}×), ${
        f(best.hangup.cpuSecondsPerGiB / server.cpuSecondsPerGiB)
      }× ${best["node-tls"] ? "node:tls server" : "native"}`,
      "hangup's layer ≤ 1.10× node:tls over the same stream (same-round median)",
      paired <= 1.1,
    ],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick");
  const only = process.argv.includes("--runtime") ? [process.argv[process.argv.indexOf("--runtime") + 1]] : ["node", "deno", "bun"];
  const { bytes, repeat } = sizes(quick);
  const rows = [];
  for (const runtime of only) {
    const best = await bestOf(runtime, quick);
    rows.push({
      runtime,
      "native CPU s/GiB": best.native.cpuSecondsPerGiB.toFixed(2),
      "hangup CPU s/GiB": best.hangup.cpuSecondsPerGiB.toFixed(2),
      "hangup / native": (best.hangup.cpuSecondsPerGiB / best.native.cpuSecondsPerGiB).toFixed(2),
      "node:tls server CPU s/GiB": best["node-tls"]?.cpuSecondsPerGiB.toFixed(2) ?? "(= native)",
      "node:tls over a stream CPU s/GiB": best["duplex-tls"].cpuSecondsPerGiB.toFixed(2),
      "hangup / over a stream": (best.hangup.cpuSecondsPerGiB / best["duplex-tls"].cpuSecondsPerGiB).toFixed(2),
      "over a stream, awaited": best["duplex-tls-await"].cpuSecondsPerGiB.toFixed(2),
      "native MiB/s": best.native.wallMiBps.toFixed(0),
      "hangup MiB/s": best.hangup.wallMiBps.toFixed(0),
    });
  }
  console.log(`TLS receive, ${bytes / 2 ** 20} MiB per run, best of ${repeat}${canPin ? ", pinned" : ""}`);
  console.table(rows);
}
