/**
 * One benchmark measurement in the runtime running this file: `receiver.ts <case> <variant> <json>`.
 * Prints `READY <port>` once it listens (the orchestrator then starts the sender), and
 * `RESULT <json>` when done. Each variant runs in a fresh process, so CPU time and RSS are its own.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import type { Conn } from "../src/index.ts";

type Runtime = "node" | "deno" | "bun";
const runtime: Runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
// The built package, as users run it (a TypeScript loader such as tsx would add `__name`
// helpers to every function and inflate memory figures).
const hangup = (await import(`../dist/${runtime}.js`)) as typeof import("../adapters/node.ts");
const core = (await import("../dist/core.js")) as typeof import("../src/index.ts");

const [benchCase, variant, paramsText] = process.argv.slice(2) as [string, string, string?];
const params = JSON.parse(paramsText ?? "{}") as Record<string, number>;

// deno-lint-ignore no-explicit-any
type Any = any;
const g = globalThis as Any;
const ready = (port: number): void => console.log(`READY ${port}`);
const done = (result: Record<string, unknown>): never => {
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(0);
};
const cpuSeconds = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
/**
 * CPU seconds of the main thread alone (Linux: its schedstat, in ns), or NaN elsewhere. The
 * process total also counts the runtime's own threads: the JIT compiling the hot path (Bun
 * spends 0.04 s of a 1 GiB run there) and the GC helpers.
 */
const mainThreadSeconds = (): number => {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
  } catch {
    return NaN;
  }
};
/** The port a Node server listens on (its address is an object once listening on TCP). */
const tcpPort = (server: { address(): string | { port: number } | null }): number => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("not listening on TCP");
  return address.port;
};
const gc = (): void => {
  if (runtime === "bun") g.Bun.gc(true);
  else g.gc?.();
};

// ---- raw servers: the runtime's own API, one connection ----------------------------------

/** The runtime's raw path: each chunk handed to `onChunk` (and kept, as a careful user may), then `onEnd`. */
async function rawServer(onChunk: (chunk: Uint8Array) => void, onEnd: () => void): Promise<void> {
  if (runtime === "deno") {
    const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0 });
    ready(listener.addr.port);
    const conn = await listener.accept();
    for (;;) {
      const buffer = new Uint8Array(65536);
      const n = await conn.read(buffer);
      if (n === null) break;
      onChunk(buffer.subarray(0, n));
    }
    conn.close();
    listener.close();
    return onEnd();
  }
  if (runtime === "bun") {
    await new Promise<void>((resolve) => {
      const server = g.Bun.listen({
        hostname: "127.0.0.1",
        port: 0,
        socket: {
          data: (_s: Any, chunk: Uint8Array) => onChunk(chunk),
          end: (s: Any) => {
            s.end();
            server.stop(true);
            resolve();
          },
          close: () => resolve(),
        },
      });
      ready(server.port);
    });
    return onEnd();
  }
  const net = await import("node:net");
  await new Promise<void>((resolve) => {
    const server = net.createServer((socket) => {
      socket.on("data", (chunk) => onChunk(chunk));
      socket.on("end", () => {
        server.close();
        resolve();
      });
    });
    server.listen(0, "127.0.0.1", () => ready(tcpPort(server)));
  });
  onEnd();
}

/**
 * The least an asynchronous consumer can cost: the raw path hands each chunk to a loop that
 * awaits a promise (no buffer limit, no errors, no end handling: not a usable API, a floor).
 */
async function handoffServer(onChunk: (chunk: Uint8Array) => void): Promise<void> {
  const queue: (Uint8Array | null)[] = [];
  let wake: (() => void) | undefined;
  const hand = (item: Uint8Array | null): void => {
    queue.push(item);
    const w = wake;
    wake = undefined;
    w?.();
  };
  const serving = rawServer((chunk) => hand(chunk), () => hand(null));
  for (;;) {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    const chunk = queue.shift()!;
    if (chunk === null) break;
    onChunk(chunk);
  }
  await serving;
}

/** The runtime's own async iterator over a socket: Node's and Bun's `node:net`, Deno's `conn.readable`. */
async function iteratorServer(onChunk: (chunk: Uint8Array) => void): Promise<void> {
  if (runtime === "deno") {
    const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0 });
    ready(listener.addr.port);
    const conn = await listener.accept();
    for await (const chunk of conn.readable as AsyncIterable<Uint8Array>) onChunk(chunk);
    listener.close();
    return;
  }
  const socket = await nodeNetSocket();
  for await (const chunk of socket as AsyncIterable<Uint8Array>) onChunk(chunk);
}

/** One accepted `node:net` socket (in every runtime: Deno and Bun implement `node:net`). */
async function nodeNetSocket(): Promise<import("node:net").Socket> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      server.close();
      resolve(socket);
    });
    server.listen(0, "127.0.0.1", () => ready(tcpPort(server)));
  });
}

/** The runtime's chunks, pulled: Deno's `conn.read()` into fresh buffers, else the `node:net` iterator. */
async function* pulledChunks(): AsyncGenerator<Uint8Array> {
  if (runtime === "deno") {
    const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0 });
    ready(listener.addr.port);
    const conn = await listener.accept();
    listener.close();
    for (;;) {
      const buffer = new Uint8Array(65536);
      const n = await conn.read(buffer);
      if (n === null) break;
      yield buffer.subarray(0, n);
    }
    conn.close();
    return;
  }
  yield* (await nodeNetSocket()) as AsyncIterable<Uint8Array>;
}

/** Lines of a text, each without its "\n" or "\r\n", to `onLine`; returns the unterminated tail. */
function splitLines(text: string, onLine: (line: string) => void): string {
  let from = 0;
  for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", from)) {
    onLine(text.slice(from, nl > from && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl));
    from = nl + 1;
  }
  return text.slice(from);
}

/** A hand-written `for await` line reader: an async generator splitting pulled chunks. */
async function* linesByHand(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let tail = "";
  for await (const chunk of chunks) {
    const text = tail + decoder.decode(chunk, { stream: true });
    let from = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", from)) {
      yield text.slice(from, nl > from && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      from = nl + 1;
    }
    tail = text.slice(from);
  }
  if (tail.length > 0) yield tail;
}

/** Cuts every whole length-prefixed frame out of `buffer` to `onFrame`; returns the leftover bytes. */
function cutFrames(buffer: Uint8Array, onFrame: (payload: Uint8Array) => void): Uint8Array {
  let at = 0;
  while (buffer.length - at >= 4) {
    const length = (buffer[at]! << 24) | (buffer[at + 1]! << 16) | (buffer[at + 2]! << 8) | buffer[at + 3]!;
    if (buffer.length - at - 4 < length) break;
    onFrame(buffer.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return buffer.slice(at);
}

function joinBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** A hand-written `for await` frame reader: an async generator cutting pulled chunks. */
async function* framesByHand(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let pending = new Uint8Array(0);
  for await (const chunk of chunks) {
    const ready: Uint8Array[] = [];
    pending = cutFrames(joinBytes(pending, chunk), (payload) => ready.push(payload));
    yield* ready;
  }
}

/**
 * The least a one-await-per-message decoding API can cost over the raw path: chunks pushed by
 * the runtime, and for each message what `decode()`'s contract asks: a view of the bytes from
 * that message on, the decoder's answer, an iterator result, a promise. A message crossing two
 * chunks is decoded from a copy of just its bytes. No limit, no errors, no backpressure: a floor.
 */
class DecodeFloor<T> implements AsyncIterableIterator<T> {
  #buffer = new Uint8Array(0);
  #at = 0;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  constructor(readonly decode: (bytes: Uint8Array) => { value: T; used: number } | { need: number } | undefined) {}

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  next(): Promise<IteratorResult<T>> {
    const result = this.#at < this.#buffer.length ? this.decode(this.#buffer.subarray(this.#at)) : undefined;
    if (result !== undefined && "value" in result) {
      this.#at += result.used;
      return Promise.resolve({ done: false, value: result.value });
    }
    return this.#nextChunk(result?.need ?? 0);
  }

  async #nextChunk(need: number): Promise<IteratorResult<T>> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk === undefined) {
        if (this.#ended) return { done: true, value: undefined };
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const rest = this.#buffer.subarray(this.#at);
      // While the message ends in this chunk: decode it from a copy of its bytes, go on in place.
      while (rest.length > 0 && need > rest.length && need <= rest.length + chunk.length) {
        const result = this.decode(joinBytes(rest, chunk.subarray(0, need - rest.length)));
        if (result !== undefined && "value" in result) {
          this.#buffer = chunk;
          this.#at = result.used - rest.length;
          return { done: false, value: result.value };
        }
        if (result === undefined || result.need <= need) throw new Error("the bench's decoder answers need, growing");
        need = result.need;
      }
      this.#buffer = joinBytes(rest, chunk);
      this.#at = 0;
      const result = this.decode(this.#buffer);
      if (result !== undefined && "value" in result) {
        this.#at = result.used;
        return { done: false, value: result.value };
      }
      need = result?.need ?? 0;
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

async function hangupConn(options: Record<string, number> = {}): Promise<Conn> {
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, ...options });
  ready(listener.addr.port);
  const conn = (await listener.accept())!;
  await listener.close();
  return conn;
}

// ---- the cases ------------------------------------------------------------------------

/**
 * Bytes received before the clocks start (params.warmUp): the JIT compiles and tiers up the hot
 * path meanwhile, a one-time cost that is not the per-GiB rate of a running server. Bun's JIT
 * takes the longest: over the first GiB hangup's main thread costs 1.15–1.25× the handoff loop's,
 * over the next three as much as it.
 */
const WARM_UP_BYTES = params.warmUp ?? 0;

async function throughput(): Promise<void> {
  let bytes = 0;
  let chunks = 0;
  let started = 0;
  let cpu = 0;
  let warm = false;
  let timedFrom = 0;
  let mainCpu = 0;
  const onChunk = (chunk: Uint8Array): void => {
    if (!warm && bytes >= WARM_UP_BYTES) {
      warm = true;
      timedFrom = bytes;
      started = performance.now();
      cpu = cpuSeconds();
      mainCpu = mainThreadSeconds();
    }
    if (warm) chunks++;
    bytes += chunk.length;
  };
  if (variant === "raw") await rawServer(onChunk, () => {});
  else if (variant === "handoff") await handoffServer(onChunk);
  else if (variant === "iterator") await iteratorServer(onChunk);
  else {
    const conn = await hangupConn();
    for await (const chunk of conn) onChunk(chunk);
    await conn.close();
  }
  if (!warm) throw new Error(`throughput: ${bytes} bytes received, not more than the ${WARM_UP_BYTES}-byte warm-up`);
  const seconds = (performance.now() - started) / 1000;
  const cpuUsed = cpuSeconds() - cpu;
  const mainUsed = mainThreadSeconds() - mainCpu;
  const timed = bytes - timedFrom;
  done({
    bytes: timed,
    chunks,
    seconds,
    mbPerSecond: timed / seconds / 1e6,
    cpuPerGiB: (cpuUsed * (1 << 30)) / timed,
    mainCpuPerGiB: (mainUsed * (1 << 30)) / timed,
  });
}

async function lines(): Promise<void> {
  let count = 0;
  let started = 0;
  const start = (): void => void (started ||= performance.now());
  if (variant === "hangup") {
    const conn = await hangupConn();
    for await (const line of conn.lines()) {
      start();
      if (line.length > 0) count++;
    }
    await conn.close();
  } else if (variant === "readline") {
    const readline = await import("node:readline");
    const socket = await nodeNetSocket();
    for await (const line of readline.createInterface({ input: socket, crlfDelay: Infinity })) {
      start();
      if (line.length > 0) count++;
    }
  } else if (variant === "generator") {
    for await (const line of linesByHand(pulledChunks())) {
      start();
      if (line.length > 0) count++;
    }
  } else {
    // Hand-written: decode each raw chunk, cut out each line, carry the unterminated tail.
    const decoder = new TextDecoder();
    let tail = "";
    await rawServer((chunk) => {
      start();
      tail = splitLines(tail + decoder.decode(chunk, { stream: true }), (line) => {
        if (line.length > 0) count++;
      });
    }, () => {});
  }
  const seconds = (performance.now() - started) / 1000;
  done({ count, seconds, perSecond: count / seconds });
}

async function frames(): Promise<void> {
  let count = 0;
  let started = 0;
  let api = "";
  if (variant === "hangup" && typeof (await peekConnApi()).decode === "function") {
    // One await per frame: the core hands `decodeFrame` the buffered bytes.
    api = "decode";
    const conn = await hangupConn();
    const framed = conn as Conn & { decode(decoder: typeof decodeFrame): AsyncIterable<Uint8Array> };
    for await (const payload of framed.decode(decodeFrame)) {
      started ||= performance.now();
      if (payload.length === 100) count++;
    }
    await conn.close();
  } else if (variant === "hangup") {
    api = "readExactly";
    const conn = await hangupConn();
    for (;;) {
      let header: Uint8Array;
      try {
        header = await conn.readExactly(4);
      } catch (err) {
        if (err instanceof core.UnexpectedEofError && err.partial.length === 0) break; // EOF between frames
        throw err;
      }
      started ||= performance.now();
      const length = (header[0]! << 24) | (header[1]! << 16) | (header[2]! << 8) | header[3]!;
      const payload = await conn.readExactly(length);
      if (payload.length === length) count++;
    }
    await conn.close();
  } else if (variant === "floor") {
    const feed = new DecodeFloor(decodeFrame);
    const serving = rawServer((chunk) => feed.push(chunk), () => feed.end());
    for await (const payload of feed) {
      started ||= performance.now();
      if (payload.length === 100) count++;
    }
    await serving;
  } else if (variant === "generator") {
    for await (const payload of framesByHand(pulledChunks())) {
      started ||= performance.now();
      if (payload.length === 100) count++;
    }
  } else {
    // Hand-written: keep a leftover buffer, cut every whole frame out of each chunk.
    let pending = new Uint8Array(0);
    await rawServer((chunk) => {
      started ||= performance.now();
      pending = cutFrames(joinBytes(pending, chunk), (payload) => {
        if (payload.length === 100) count++;
      });
    }, () => {});
  }
  const seconds = (performance.now() - started) / 1000;
  done({ count, seconds, perSecond: count / seconds, api });
}

/** A length-prefixed frame decoder in the shape `conn.decode` takes (SPEC "Framing"). */
function decodeFrame(bytes: Uint8Array): { value: Uint8Array; used: number } | { need: number } | undefined {
  if (bytes.length < 4) return { need: 4 };
  const length = (bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!;
  if (bytes.length < 4 + length) return { need: 4 + length };
  return { value: bytes.subarray(4, 4 + length), used: 4 + length };
}

/** Whether this build's Conn has `decode` (and `buffered`), from a conn over a source that does nothing. */
async function peekConnApi(): Promise<{ decode?: unknown; buffered?: unknown }> {
  const conn = core.createConn({
    localAddr: { transport: "tcp", hostname: "", port: 0 },
    remoteAddr: { transport: "tcp", hostname: "", port: 0 },
    native: null,
    start() {},
    pause() {},
    resume() {},
    write: async () => {},
    closeWrite: async () => {},
    close: async () => {},
    destroy() {},
    reset() {},
    detach() {},
  }, {});
  const api = { decode: (conn as Any).decode, buffered: (conn as Any).buffered };
  conn.reset();
  return api;
}

/** Close detection: we write one byte, the closer answers with FIN or RST; time to our report. */
async function closeDetection(): Promise<void> {
  const port = params.port!;
  const trials = params.trials ?? 200;
  const result: Record<string, number[]> = {};
  const record = (key: string, ms: number): void => void (result[key] ??= []).push(ms * 1000);
  for (let i = 0; i < trials; i++) {
    for (const kind of ["F", "R"] as const) {
      const label = kind === "F" ? "fin" : "rst";
      if (variant === "hangup") {
        const conn = await hangup.connect({ port });
        let t0 = 0;
        const ended = conn.ended.then(() => record(`${label}.ended`, performance.now() - t0));
        const loop = (async () => {
          try {
            for await (const _ of conn) { /* nothing is sent */ }
          } catch { /* the reset */ }
          record(`${label}.loop`, performance.now() - t0);
        })();
        t0 = performance.now();
        await conn.write(kind);
        await Promise.all([ended, loop]);
        conn.reset();
        await conn.closed;
      } else {
        await rawClose(port, kind, (ms) => record(`${label}.event`, ms));
      }
    }
  }
  // Every sample: the orchestrator pools the runs before taking the median and p99.
  done({ trials, samples: result });
}

/** The runtime's own first report of the peer's close: Node 'end'/'error', Deno read() null/throw, Bun end/close. */
async function rawClose(port: number, kind: "F" | "R", report: (ms: number) => void): Promise<void> {
  if (runtime === "deno") {
    const conn = await g.Deno.connect({ hostname: "127.0.0.1", port });
    const t0 = performance.now();
    await conn.write(new TextEncoder().encode(kind));
    try {
      await conn.read(new Uint8Array(1024));
    } catch { /* reset */ }
    report(performance.now() - t0);
    conn.close();
    return;
  }
  if (runtime === "bun") {
    let t0 = 0;
    await new Promise<void>((resolve) => {
      let reported = false;
      const once = (): void => {
        if (reported) return;
        reported = true;
        report(performance.now() - t0);
        resolve();
      };
      void g.Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open: (s: Any) => {
            t0 = performance.now();
            s.write(kind);
          },
          data: () => {},
          end: (s: Any) => {
            once();
            s.end();
          },
          close: once,
          error: once,
        },
      });
    });
    return;
  }
  const net = await import("node:net");
  await new Promise<void>((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let t0 = 0;
    let reported = false;
    const once = (): void => {
      if (reported) return;
      reported = true;
      report(performance.now() - t0);
      socket.destroy();
      resolve();
    };
    socket.on("connect", () => {
      t0 = performance.now();
      socket.write(kind);
    });
    socket.on("end", once);
    socket.on("error", once);
    socket.on("close", once);
  });
}

/** Memory per idle connection with a read pending: `count` connections from the sender. */
async function memory(): Promise<void> {
  const count = params.count!;
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc();
  const before = process.memoryUsage();
  const keep: unknown[] = [];
  let accepted = 0;
  const accepting = new Promise<void>((resolve) => {
    const onConn = (): void => void (++accepted === count && resolve());
    if (variant === "hangup") {
      void (async () => {
        const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, backlog: 4096 });
        ready(listener.addr.port);
        for await (const conn of listener) {
          keep.push(conn, conn.read().catch(() => null));
          onConn();
        }
      })();
    } else if (runtime === "deno") {
      void (async () => {
        const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0 });
        ready(listener.addr.port);
        for await (const conn of listener) {
          keep.push(conn, conn.read(new Uint8Array(65536)).catch(() => null));
          onConn();
        }
      })();
    } else if (runtime === "bun") {
      const server = g.Bun.listen({
        hostname: "127.0.0.1",
        port: 0,
        socket: { open: (s: Any) => (keep.push(s), onConn()), data: () => {} },
      });
      ready(server.port);
    } else {
      void import("node:net").then((net) => {
        const server = net.createServer((socket) => {
          socket.on("data", () => {});
          keep.push(socket);
          onConn();
        });
        server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => ready(tcpPort(server)));
      });
    }
  });
  await accepting;
  const settle = async (ms: number): Promise<ReturnType<typeof process.memoryUsage>> => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    gc();
    await new Promise((resolve) => setTimeout(resolve, 200));
    gc();
    return process.memoryUsage();
  };
  // Right after the burst of accepts, and again once idle: by then the runtime has given back
  // the young generation the burst grew (V8's memory reducer acts after about 8 s of quiet).
  const burst = await settle(500);
  const after = await settle(params.idleMs ?? 0);
  done({
    count,
    rssPerConn: (after.rss - before.rss) / count,
    rssBurstPerConn: (burst.rss - before.rss) / count,
    heapPerConn: (after.heapUsed + after.external - before.heapUsed - before.external) / count,
    heapTotalPerConn: (after.heapTotal - before.heapTotal) / count,
  });
}

/** The peer blasts; the app reads one chunk every 10 ms: peak RSS growth over the run. */
async function slowConsumer(): Promise<void> {
  const seconds = params.seconds ?? 5;
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, highWaterMark: params.highWaterMark ?? 65536 });
  // Growth from before the peer connects: the listener's own setup is not buffering.
  gc();
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => void (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  ready(listener.addr.port);
  const conn = (await listener.accept())!;
  await listener.close();
  const until = performance.now() + seconds * 1000;
  let bytes = 0;
  while (performance.now() < until) {
    const chunk = await conn.read();
    if (chunk === null) break;
    bytes += chunk.length;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  clearInterval(sampler);
  conn.reset();
  done({ seconds, bytesRead: bytes, peakGrowth: peak - base, highWaterMark: params.highWaterMark ?? 65536 });
}

/**
 * readUntil / lines on one line of 1 MiB and of 16 MiB arriving in 4 KiB chunks (the core alone).
 * Each is the best of 9 interleaved tries after a warm-up: one try lasts a few milliseconds, where
 * a GC or a JIT tier-up alone moves it by half.
 */
async function growth(): Promise<void> {
  const times: Record<string, number> = {};
  for (const helper of ["readUntil", "lines"] as const) {
    await oneLongLine(helper, 1 << 20); // warm-up, untimed
    for (let round = 0; round < 9; round++) {
      for (const size of [1 << 20, 16 << 20]) {
        const key = `${helper}.${size >> 20}MiB`;
        times[key] = Math.min(times[key] ?? Infinity, await oneLongLine(helper, size));
      }
    }
  }
  done({
    milliseconds: times,
    readUntilRatio: times["readUntil.16MiB"]! / times["readUntil.1MiB"]!,
    linesRatio: times["lines.16MiB"]! / times["lines.1MiB"]!,
  });
}

/** Milliseconds for `helper` to return one line of `size` bytes fed in 4 KiB chunks. */
async function oneLongLine(helper: "readUntil" | "lines", size: number): Promise<number> {
  let sink!: import("../src/index.ts").ConnSink;
  const conn = core.createConn({
    localAddr: { transport: "tcp", hostname: "", port: 0 },
    remoteAddr: { transport: "tcp", hostname: "", port: 0 },
    native: null,
    start: (s) => void (sink = s),
    pause() {},
    resume() {},
    write: async () => {},
    closeWrite: async () => {},
    close: async () => sink.closed(),
    destroy: () => sink.closed(),
    reset: () => sink.closed(),
    detach() {},
  }, { highWaterMark: 1 << 30 });
  const chunk = new Uint8Array(4096).fill(0x61);
  const last = new Uint8Array(4096).fill(0x61);
  last[4095] = 0x0a;
  const started = performance.now();
  const reading = helper === "readUntil"
    ? conn.readUntil("\n", { maxBytes: size })
    : conn.lines({ maxBytes: size })[Symbol.asyncIterator]().next();
  for (let sent = 0; sent < size; sent += 4096) {
    sink.data(sent + 4096 >= size ? last : chunk);
    await null;
  }
  const result = await reading;
  const elapsed = performance.now() - started;
  // The whole line came back (readUntil keeps the "\n", lines() drops it), or the figure means nothing.
  const got = result instanceof Uint8Array ? result.length : (result as IteratorResult<string> | null)?.value?.length + 1;
  if (got !== size) throw new Error(`${helper} returned ${got} bytes of a ${size}-byte line`);
  await conn.close();
  return elapsed;
}

const cases: Record<string, () => Promise<void>> = { throughput, lines, frames, close: closeDetection, memory, slow: slowConsumer, growth };
await cases[benchCase]!();
