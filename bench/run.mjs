#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --runtime node|deno|bun]`: every case on every runtime, hangup
// side by side with the runtime's raw path (and its own iterator, readline, a hand-written
// split or parser, and the same as a hand-written async generator) in the same run, each
// variant in a fresh receiver process, the sender always a separate Node process; the RESP case
// (bench/resp.mjs) drives hangup and raw RESP servers with the real redis-benchmark instead.
// `--case resp,frames` runs only those cases. Prints one table and writes bench/results/latest.json.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { redisBenchmark, respBench, TESTS as RESP_TESTS } from "./resp.mjs";
import { tlsCase } from "./tls.mjs";
import { pairedRatio, pinned, runReceiver } from "./receiver-process.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const quick = process.argv.includes("--quick");
const only = process.argv.includes("--runtime") ? [process.argv[process.argv.indexOf("--runtime") + 1]] : ["node", "deno", "bun"];
const REPEAT = quick ? 1 : 3;
const cases = process.argv.includes("--case") ? process.argv[process.argv.indexOf("--case") + 1].split(",") : undefined;
const wanted = (name) => !cases || cases.includes(name);

const size = quick
  ? {
    bytes: 32 << 20,
    warmUp: 8 << 20,
    lines: 200_000,
    frames: 100_000,
    respRequests: 10_000,
    closeTrials: 20,
    idle: 300,
    idleMs: 0,
    slowSeconds: 0.5,
  }
  : {
    // Timed after a warm-up of 512 MiB (the JIT's one-time work), over the GiB that follows.
    bytes: 3 << 29,
    warmUp: 1 << 29,
    lines: 10_000_000,
    frames: 3_000_000,
    respRequests: 200_000,
    closeTrials: 200,
    idle: 10_000,
    idleMs: 10_000,
    slowSeconds: 10,
  };

const receivers = {
  node: (args) => [process.execPath, ["--expose-gc", "--import", "tsx", "bench/receiver.ts", ...args]],
  deno: (args) => [bin("deno"), ["run", "--allow-all", "--v8-flags=--expose-gc", "bench/receiver.ts", ...args]],
  bun: (args) => [bin("bun"), ["bench/receiver.ts", ...args]],
};

/** bench/resp-server.ts, the RESP servers (run until killed). */
const respServers = {
  node: (variant) => [process.execPath, ["--import", "tsx", "bench/resp-server.ts", variant]],
  deno: (variant) => [bin("deno"), ["run", "--allow-all", "bench/resp-server.ts", variant]],
  bun: (variant) => [bin("bun"), ["bench/resp-server.ts", variant]],
};

// On Linux with two or more CPUs, the receiver runs on CPU 0 and its peer on CPU 1, for every
// variant alike: otherwise the scheduler sometimes puts both on one core and sometimes not, and
// the CPU time of the same code swings by a third between runs.

/** Runs one receiver; `peer(port)` starts its sender once it is ready. Resolves with its RESULT. */
function measure(runtime, benchCase, variant, params, peer) {
  const [cmd, args] = pinned(0, ...receivers[runtime]([benchCase, variant, JSON.stringify(params)]));
  return runReceiver(cmd, args, { cwd: root, peer, label: `${runtime} ${benchCase} ${variant}` });
}

/** The runtime's cost of one `await` per item, with no I/O (bench/await-floor.mjs). */
function awaitFloor(runtime) {
  const items = String(quick ? 500_000 : 5_000_000);
  const [cmd, args] = pinned(
    0,
    ...{
      node: [process.execPath, ["bench/await-floor.mjs", items]],
      deno: [bin("deno"), ["run", "bench/await-floor.mjs", items]],
      bun: [bin("bun"), ["bench/await-floor.mjs", items]],
    }[runtime],
  );
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("close", () => {
      const result = /RESULT (.*)/.exec(out);
      if (result) resolve(JSON.parse(result[1]));
      else reject(new Error(`${runtime} await floor: no result\n${out}`));
    });
  });
}

function sender(mode, count) {
  return (port) =>
    spawn(...pinned(1, process.execPath, ["bench/sender.mjs", mode, String(port), String(count)]), { cwd: root, stdio: "ignore" });
}

async function startCloser() {
  const child = spawn(...pinned(1, process.execPath, ["bench/closer.mjs"]), { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve) => child.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
  return { child, port };
}

/** The best of `REPEAT` runs of each variant, interleaved so drifts in machine load hit all alike. */
async function best(runtime, benchCase, variants, params, peer, better, repeat = REPEAT) {
  const results = {};
  const rounds = [];
  for (let r = 0; r < repeat; r++) {
    const round = {};
    for (const variant of variants) {
      const result = (round[variant] = await measure(runtime, benchCase, variant, params, peer));
      if (!results[variant] || better(result, results[variant])) results[variant] = result;
    }
    rounds.push(round);
  }
  Object.defineProperty(results, "rounds", { value: rounds, enumerable: false });
  return results;
}

const lower = (key) => (a, b) => a[key] < b[key];
const higher = (key) => (a, b) => a[key] > b[key];
const rows = [];
const raw = {};
const fmt = (n, digits = 2) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits));
function row(runtime, benchCase, hangup, baselines, ratio, target, ok) {
  rows.push({ runtime, case: benchCase, hangup, baselines, ratio, target, ok });
  console.log(
    `${ok ? "ok  " : "MISS"} ${runtime.padEnd(5)} ${benchCase.padEnd(22)} ${hangup.padEnd(24)} ${baselines.padEnd(52)} ${
      ratio.padEnd(22)
    } ${target}`,
  );
}

// Measure the package as users get it: build it first.
await new Promise((resolve, reject) => {
  spawn(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" }).on(
    "close",
    (code) => (code === 0 ? resolve() : reject(new Error("build failed"))),
  );
});
console.log(`${quick ? "quick " : ""}benchmarks on ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}; best of ${REPEAT}\n`);
for (const runtime of only) {
  const r = (raw[runtime] = {});

  if (wanted("throughput")) {
    // CPU time on a shared machine swings by a third from run to run: best of more runs here.
    r.throughput = await best(
      runtime,
      "throughput",
      ["raw", "handoff", "iterator", "hangup"],
      { warmUp: size.warmUp },
      sender("bytes", size.bytes),
      lower("cpuPerGiB"),
      quick ? 1 : 7,
    );
    {
      const { raw: base, handoff, iterator, hangup } = r.throughput;
      const ratio = hangup.cpuPerGiB / base.cpuPerGiB;
      const rounds = r.throughput.rounds.length;
      const pairedRaw = pairedRatio(r.throughput, "hangup", "raw", "cpuPerGiB");
      const pairedHandoff = pairedRatio(r.throughput, "hangup", "handoff", "cpuPerGiB");
      const mainHandoff = pairedRatio(r.throughput, "hangup", "handoff", "mainCpuPerGiB");
      const pairedIterator = pairedRatio(r.throughput, "hangup", "iterator", "cpuPerGiB");
      r.throughput.paired = { rounds, raw: pairedRaw, handoff: pairedHandoff, mainThreadHandoff: mainHandoff };
      row(
        runtime,
        "throughput (CPU s/GiB)",
        `${fmt(hangup.cpuPerGiB)} (${fmt(hangup.mbPerSecond)} MB/s)`,
        `raw ${fmt(base.cpuPerGiB)} (${fmt(base.mbPerSecond)} MB/s), raw handed to an awaiting loop ${fmt(handoff.cpuPerGiB)}, iterator ${
          fmt(iterator.cpuPerGiB)
        }; ${rounds} rounds${Number.isNaN(mainHandoff) ? "" : `; the main thread alone ${fmt(mainHandoff)}× handoff`}`,
        `${fmt(pairedRaw)}× raw, ${fmt(pairedHandoff)}× handoff (same-round medians; bests: ${fmt(ratio)}× raw, ${
          fmt(hangup.cpuPerGiB / handoff.cpuPerGiB)
        }× handoff)`,
        "≤ 1.05× handoff (the async floor), < iterator; same-round medians",
        pairedHandoff <= 1.05 && pairedIterator < 1,
      );
    }
  }
  if (wanted("lines") || wanted("frames")) r.awaitFloor = await awaitFloor(runtime);
  if (wanted("lines")) {
    r.lines = await best(
      runtime,
      "lines",
      ["hangup", "readline", "split", "generator"],
      {},
      sender("lines", size.lines),
      higher("perSecond"),
    );
    {
      const { hangup, readline, split, generator } = r.lines;
      const vsReadline = hangup.perSecond / readline.perSecond;
      const vsSplit = hangup.perSecond / split.perSecond;
      // What the targets leave for the `for await` step itself, per line, once the split's own work
      // is paid (split and readline measured here, with their I/O): if one step alone costs more,
      // no per-line `for await` can meet the target, however it is built.
      const splitNs = 1e9 / split.perSecond;
      const leftBySplit = 1e9 / (0.8 * split.perSecond) - splitNs;
      const leftByReadline = 1e9 / (2 * readline.perSecond) - splitNs;
      row(
        runtime,
        "lines (lines/s)",
        fmt(hangup.perSecond / 1e6) + " M/s",
        `readline ${fmt(readline.perSecond / 1e6)} M/s, split ${fmt(split.perSecond / 1e6)} M/s, generator ${
          fmt(generator.perSecond / 1e6)
        } M/s; the targets leave ${fmt(leftBySplit, 0)} ns (0.8× split) and ${
          fmt(leftByReadline, 0)
        } ns (2× readline) per line for a for-await step that alone costs ${fmt(r.awaitFloor.forAwaitNs, 0)} ns`,
        `${fmt(vsReadline)}× rl, ${fmt(vsSplit)}× split, ${fmt(hangup.perSecond / generator.perSecond)}× gen`,
        "≥ 2× readline, ≥ 0.8× split",
        vsReadline >= 2 && vsSplit >= 0.8,
      );
    }
  }
  if (wanted("frames")) {
    r.frames = await best(
      runtime,
      "frames",
      ["hangup", "parser", "floor", "generator"],
      {},
      sender("frames", size.frames),
      higher("perSecond"),
    );
    {
      const { hangup, parser, floor, generator } = r.frames;
      const ratio = hangup.perSecond / parser.perSecond;
      if (hangup.api === "decode") {
        // One await per frame through conn.decode: what it costs beyond the hand parser's own
        // work plus one bare await (the least any one-await-per-frame API can add).
        const over = 1e9 / hangup.perSecond - 1e9 / parser.perSecond - r.awaitFloor.awaitNs;
        // A `for await` step over an iterator whose next() is already resolved costs more than a
        // bare await: that step is the floor of any `for await` API.
        const overStep = 1e9 / hangup.perSecond - 1e9 / parser.perSecond - r.awaitFloor.forAwaitNs;
        const signed = (n) => `${n >= 0 ? "+" : ""}${fmt(n, 0)}`;
        // The decode floor: a hand-written iterator doing per frame only what decode()'s contract
        // asks (a view, the decoder's answer, an iterator result, a promise), over the raw path.
        const floorOver = 1e9 / floor.perSecond - 1e9 / parser.perSecond - r.awaitFloor.awaitNs;
        const overFloor = 1e9 / hangup.perSecond - 1e9 / floor.perSecond;
        row(
          runtime,
          "frames via decode (frames/s)",
          fmt(hangup.perSecond / 1e6) + " M/s",
          `parser ${fmt(parser.perSecond / 1e6)} M/s, decode floor ${fmt(floor.perSecond / 1e6)} M/s (${
            signed(floorOver)
          } ns over parser + 1 await), generator ${fmt(generator.perSecond / 1e6)} M/s; one bare await ${
            fmt(r.awaitFloor.awaitNs, 0)
          } ns, one for-await step ${fmt(r.awaitFloor.forAwaitNs, 0)} ns; ${fmt(ratio)}× parser, ${
            fmt(hangup.perSecond / generator.perSecond)
          }× gen`,
          `${signed(over)} ns/frame over parser + 1 await (${signed(overStep)} over parser + 1 for-await step; ${
            signed(overFloor)
          } over the decode floor)`,
          "≤ +30 ns per frame over parser + 1 await",
          over <= 30,
        );
      } else {
        // Two awaited readExactly calls per frame: what 0.8× the parser leaves for them, against
        // what two bare awaits alone cost.
        const left = 1e9 / (0.8 * parser.perSecond) - 1e9 / parser.perSecond;
        row(
          runtime,
          "frames (frames/s)",
          fmt(hangup.perSecond / 1e6) + " M/s",
          `parser ${fmt(parser.perSecond / 1e6)} M/s, generator ${fmt(generator.perSecond / 1e6)} M/s; the target leaves ${
            fmt(left, 0)
          } ns per frame for 2 awaits that alone cost ${fmt(2 * r.awaitFloor.awaitNs, 0)} ns (no decode in this build: readExactly twice)`,
          `${fmt(ratio)}× parser, ${fmt(hangup.perSecond / generator.perSecond)}× gen`,
          "≥ 0.8× parser",
          ratio >= 0.8,
        );
      }
    }
  }
  if (wanted("resp")) {
    if (!redisBenchmark()) {
      row(
        runtime,
        "resp (requests/s)",
        "not run",
        "redis-benchmark is not installed (Debian: apt-get install redis-tools)",
        "",
        "≥ 0.90× raw",
        false,
      );
    } else {
      r.resp = await respBench({
        root,
        command: (variant) => pinned(0, ...respServers[runtime](variant)),
        pinned,
        requests: size.respRequests,
        repeat: REPEAT,
      });
      for (const [pipeline, { hangup, raw: base, floor }] of Object.entries(r.resp)) {
        const ratio = hangup.overall / base.overall;
        const perTest = RESP_TESTS.map((test) => `${test} ${fmt(hangup.rps[test] / base.rps[test])}`).join(", ");
        const floorPerTest = RESP_TESTS.map((test) => `${test} ${fmt(floor.rps[test] / base.rps[test])}`).join(", ");
        row(
          runtime,
          `resp -P ${pipeline} (requests/s)`,
          `${fmt(hangup.overall / 1000)} k/s`,
          `raw ${fmt(base.overall / 1000)} k/s, floor (raw + one await per command) ${fmt(floor.overall / 1000)} k/s = ${
            fmt(floor.overall / base.overall)
          }× raw, the bound for any one-await-per-message API (all ${size.respRequests} × 4 requests over their seconds, 50 clients); hangup/raw per test: ${perTest}; floor/raw per test: ${floorPerTest}; ran: ${hangup.label} vs ${base.label} vs ${floor.label}`,
          `${fmt(ratio)}× raw, ${fmt(hangup.overall / floor.overall)}× floor`,
          "≥ 0.90× raw",
          ratio >= 0.9,
        );
      }
    }
  }
  if (wanted("close")) {
    const closer = await startCloser();
    try {
      // Runs interleaved, every trial pooled: a median of 3 × 200 trials, not of one run's 200.
      const pooled = { raw: {}, hangup: {} };
      for (let run = 0; run < REPEAT; run++) {
        for (const variant of ["raw", "hangup"]) {
          const { samples } = await measure(runtime, "close", variant, { port: closer.port, trials: size.closeTrials });
          for (const [key, values] of Object.entries(samples)) (pooled[variant][key] ??= []).push(...values);
        }
      }
      r.close = {};
      for (const [variant, keys] of Object.entries(pooled)) {
        r.close[variant] = { trials: size.closeTrials * REPEAT, microseconds: {} };
        for (const [key, values] of Object.entries(keys)) {
          values.sort((a, b) => a - b);
          r.close[variant].microseconds[key] = {
            median: values[Math.floor(values.length / 2)],
            p99: values[Math.floor(values.length * 0.99)],
          };
        }
      }
    } finally {
      closer.child.kill();
    }
    for (const kind of ["fin", "rst"]) {
      const base = r.close.raw.microseconds[`${kind}.event`];
      const ended = r.close.hangup.microseconds[`${kind}.ended`];
      const loop = r.close.hangup.microseconds[`${kind}.loop`];
      const extra = ended.median - base.median;
      row(
        runtime,
        `close ${kind.toUpperCase()} (median µs)`,
        `ended ${fmt(ended.median)}, loop ${fmt(loop.median)}`,
        `raw event ${fmt(base.median)} (p99: raw ${fmt(base.p99)}, ended ${fmt(ended.p99)})`,
        `${extra >= 0 ? "+" : ""}${fmt(extra)} µs`,
        "≤ raw + 25 µs",
        extra <= 25,
      );
    }
  }
  if (wanted("memory")) {
    // Once per variant (a memory figure needs no best-of): RSS once idle, and right after the burst.
    r.memory = {};
    for (const variant of ["raw", "hangup"]) {
      r.memory[variant] = await measure(runtime, "memory", variant, { count: size.idle, idleMs: size.idleMs }, sender("idle", size.idle));
    }
    {
      const { raw: base, hangup } = r.memory;
      const extra = hangup.rssPerConn - base.rssPerConn;
      const burst = hangup.rssBurstPerConn - base.rssBurstPerConn;
      row(
        runtime,
        `memory (${size.idle} idle)`,
        `${fmt(hangup.rssPerConn / 1024)} KiB/conn`,
        `raw ${fmt(base.rssPerConn / 1024)} KiB/conn (heap: ${fmt(hangup.heapPerConn / 1024)} vs ${
          fmt(base.heapPerConn / 1024)
        }; right after the accepts: +${fmt(burst / 1024)} KiB)`,
        `${extra >= 0 ? "+" : ""}${fmt(extra / 1024)} KiB`,
        "≤ +2 KiB per connection",
        extra <= 2048,
      );
    }
  }
  if (wanted("slow")) {
    r.slow = await measure(runtime, "slow", "hangup", { seconds: size.slowSeconds }, sender("blast", 1 << 40));
    {
      const limit = r.slow.highWaterMark + (2 << 20);
      row(
        runtime,
        "slow consumer (RSS)",
        `+${fmt(r.slow.peakGrowth / (1 << 20))} MiB peak`,
        `highWaterMark ${r.slow.highWaterMark >> 10} KiB`,
        "",
        "≤ highWaterMark + 2 MiB",
        r.slow.peakGrowth <= limit,
      );
    }
  }
  if (wanted("tls")) {
    r.tls = await tlsCase(runtime, { quick });
    row(...r.tls.row);
  }
  if (wanted("growth")) {
    r.growth = await measure(runtime, "growth", "hangup", {});
    {
      const ms = r.growth.milliseconds;
      const worst = Math.max(r.growth.readUntilRatio, r.growth.linesRatio);
      row(
        runtime,
        "growth (16 MiB / 1 MiB)",
        `readUntil ${fmt(r.growth.readUntilRatio)}×, lines ${fmt(r.growth.linesRatio)}×`,
        `1 MiB: ${fmt(ms["readUntil.1MiB"])} ms, 16 MiB: ${fmt(ms["readUntil.16MiB"])} ms`,
        `${fmt(worst)}×`,
        "≤ 24× (linear: 16×)",
        worst <= 24,
      );
    }
  }
}

const versions = {};
for (const runtime of only) {
  if (runtime === "node") versions.node = process.version;
  else {
    const { execFileSync } = await import("node:child_process");
    versions[runtime] = execFileSync(bin(runtime), ["--version"], { encoding: "utf8" }).split("\n")[0].trim();
  }
}
mkdirSync(join(root, "bench", "results"), { recursive: true });
const file = join(root, "bench", "results", quick ? "quick.json" : "latest.json");
writeFileSync(
  file,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      quick,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memory: os.totalmem(), kernel: os.release() },
      versions,
      sizes: size,
      repeat: REPEAT,
      rows,
      raw,
    },
    null,
    2,
  ) + "\n",
);
console.log(`\n${rows.filter((r) => r.ok).length} of ${rows.length} targets met; written to ${file.slice(root.length + 1)}`);
