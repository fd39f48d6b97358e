/**
 * A model-based property test of the core: random sequences of what a source reports
 * (data, end, error, closed) interleaved with what a user calls (every kind of read,
 * writes, closeWrite, close, reset, unwrap, aborts), against a small model of what must
 * hold whatever the order:
 * - `ended` settles exactly when the first end (the peer's or ours) happened, with its
 *   reason, and never changes after; `conn.signal` is aborted exactly then;
 * - every byte the core accepted is delivered in order: the reads, in call order, rebuild
 *   it exactly (plus `unwrap().buffered`), and after a peer's end all of it is readable;
 * - `closed` resolves once the source reported closed (or on unwrap), and never before;
 * - every operation settles, with a result or a typed error; nothing is left unhandled;
 * - sink calls after `closed` change nothing; no source method is called after `detach`.
 * 500 sequences of at most 40 steps; a fake source (core unit test, not adapter proof).
 */
import assert from "node:assert/strict";
import process from "node:process";
import fc from "fast-check";
import {
  type Conn,
  type ConnSink,
  type ConnSource,
  createConn,
  type EndInfo,
  type EndReason,
  SocketClosedError,
  SocketError,
  UnexpectedEofError,
} from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";

const RUNS = 500;

/**
 * Core bugs this model found, both fixed since. While its flag below is false, a bug is left out
 * of the "no source call after detach" invariant and reproduced as a named skipped case, so
 * every runner lists it.
 * - A `write()` queued before `unwrap()` reaches `source.write` after `detach()`: the core writes
 *   to a socket it handed over, after (or between) the new owner's bytes.
 * - A `closeWrite()` pending at `unwrap()` calls `source.closeWrite` after `detach()` (a FIN the
 *   new owner did not send), and if the peer had already ended, `source.close()` too: the core
 *   closes the socket it handed over.
 */
const FIXED = { writeAfterUnwrap: true, closeWriteAfterUnwrap: true };
const KNOWN_AFTER_DETACH = new Set([
  ...(FIXED.writeAfterUnwrap ? [] : ["write"]),
  ...(FIXED.closeWriteAfterUnwrap ? [] : ["closeWrite", "close"]),
]);
const MAX_STEPS = 40;

// ---- commands ------------------------------------------------------------

/** ASCII only, so a line's bytes are its characters; CR, LF and ";" make delimiters frequent. */
const ALPHABET = [0x61, 0x62, 0x0a, 0x0d, 0x3b];
type Abort = "none" | "before" | "later";
const ERROR_CODES = ["ECONNRESET", "ETIMEDOUT", "EPIPE", ""] as const;

type Command =
  | { t: "data"; bytes: number[] }
  | { t: "end" }
  | { t: "error"; code: (typeof ERROR_CODES)[number] }
  | { t: "closed" }
  | { t: "tick" }
  | { t: "read"; abort: Abort }
  | { t: "peek"; abort: Abort }
  | { t: "readExactly"; n: number; abort: Abort }
  | { t: "readUntil"; delimiter: string; maxBytes: number; abort: Abort }
  | { t: "lines"; fresh: boolean; maxBytes: number }
  | { t: "iterate" }
  | { t: "write"; size: number; abort: Abort }
  | { t: "closeWrite" }
  | { t: "close" }
  | { t: "reset" }
  | { t: "unwrap" }
  | { t: "abortOps" }
  | { t: "abortConn" };

const abort = fc.constantFrom<Abort>("none", "none", "before", "later");
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.array(fc.constantFrom(...ALPHABET), { minLength: 1, maxLength: 8 }).map((bytes) => ({ t: "data" as const, bytes })),
  },
  { weight: 1, arbitrary: fc.constant({ t: "end" as const }) },
  { weight: 1, arbitrary: fc.constantFrom(...ERROR_CODES).map((code) => ({ t: "error" as const, code })) },
  { weight: 1, arbitrary: fc.constant({ t: "closed" as const }) },
  { weight: 6, arbitrary: fc.constant({ t: "tick" as const }) },
  { weight: 3, arbitrary: abort.map((a) => ({ t: "read" as const, abort: a })) },
  { weight: 2, arbitrary: abort.map((a) => ({ t: "peek" as const, abort: a })) },
  { weight: 3, arbitrary: fc.record({ n: fc.integer({ min: 0, max: 12 }), abort }).map((r) => ({ t: "readExactly" as const, ...r })) },
  {
    weight: 3,
    arbitrary: fc.record({ delimiter: fc.constantFrom(";", "\r\n", "ab"), maxBytes: fc.integer({ min: 2, max: 14 }), abort })
      .map((r) => ({ t: "readUntil" as const, ...r })),
  },
  {
    weight: 3,
    arbitrary: fc.record({ fresh: fc.boolean(), maxBytes: fc.integer({ min: 1, max: 12 }) }).map((r) => ({ t: "lines" as const, ...r })),
  },
  { weight: 2, arbitrary: fc.constant({ t: "iterate" as const }) },
  { weight: 2, arbitrary: fc.record({ size: fc.integer({ min: 0, max: 4 }), abort }).map((r) => ({ t: "write" as const, ...r })) },
  { weight: 1, arbitrary: fc.constant({ t: "closeWrite" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "close" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "reset" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "unwrap" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "abortOps" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "abortConn" as const }) },
);

// ---- the fake source -------------------------------------------------------

interface Recorder {
  source: ConnSource;
  sink(): ConnSink;
  /** The source called `sink.closed()` at least once (then, or by a command). */
  reportedClosed: boolean;
  detached: boolean;
  /** Source methods the core called after `detach()`: the socket was no longer its own. */
  afterDetach: string[];
}

function recorder(): Recorder {
  let sink!: ConnSink;
  const r: Recorder = {
    source: undefined as unknown as ConnSource,
    sink: () => sink,
    reportedClosed: false,
    detached: false,
    afterDetach: [],
  };
  const note = (name: string): void => void (r.detached && r.afterDetach.push(name));
  // A close of the handle: reported once, and not at all once the socket was handed over.
  const closeHandle = (): void => {
    if (r.reportedClosed || r.detached) return;
    r.reportedClosed = true;
    sink.closed();
  };
  r.source = {
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 },
    native: { fake: true },
    start: (s) => void (sink = s),
    pause: () => note("pause"),
    resume: () => note("resume"),
    write: async () => {
      note("write");
      if (r.reportedClosed) throw Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    },
    closeWrite: async () => note("closeWrite"),
    close: async () => {
      note("close");
      closeHandle();
    },
    destroy: () => {
      note("destroy");
      closeHandle();
    },
    reset: () => {
      note("reset");
      closeHandle();
    },
    detach: () => {
      note("detach");
      r.detached = true;
    },
  };
  return r;
}

// ---- what the reads returned, in call order ---------------------------------

type Delivery =
  | { kind: "bytes"; bytes: Uint8Array; op: string }
  | { kind: "peek"; bytes: Uint8Array }
  | { kind: "line"; line: string }
  | { kind: "nothing" }
  | { kind: "pending"; op: string };

const encoder = new TextEncoder();
const flush = async (): Promise<void> => {
  for (let i = 0; i < 25; i++) await null;
};

function reasonOfCode(code: string): EndReason {
  return code === "ECONNRESET" ? "reset" : code === "ETIMEDOUT" ? "timeout" : "error";
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** One random sequence, run against a fresh Conn and checked against the model. */
async function runSequence(commands: Command[], highWaterMark: number): Promise<void> {
  const rec = recorder();
  const connAbort = new AbortController();
  const conn: Conn = createConn(rec.source, { highWaterMark, signal: connAbort.signal });

  // The model.
  const fed: number[] = [];
  let expected: EndInfo["reason"] | undefined;
  let peerEnded = false;
  let stopped = false;
  let unwrapped = false;
  /** The runtime code of the error that ended the read side, if one did. */
  let endCode: string | undefined;

  const deliveries: Delivery[] = [];
  const operations: Promise<unknown>[] = [];
  const abortReasons = new Set<unknown>();
  const laterAborts: { controller: AbortController; reason: Error }[] = [];
  let readsInFlight = 0;
  let lines: AsyncIterator<string> | undefined;
  let linesDone = false;

  let endedValue: EndInfo | undefined;
  let endedSettles = 0;
  void conn.ended.then((info) => {
    endedValue = info;
    endedSettles++;
  });
  let closedResolved = false;
  void conn.closed.then(() => void (closedResolved = true));

  const signalFor = (mode: Abort): AbortSignal | undefined => {
    if (mode === "none") return undefined;
    const controller = new AbortController();
    const reason = new Error(`op aborted (${mode})`);
    abortReasons.add(reason);
    if (mode === "before") controller.abort(reason);
    else laterAborts.push({ controller, reason });
    return controller.signal;
  };

  /** An error an operation may reject with: typed, ours, or the one-reader rule. */
  const allowedError = (err: unknown): boolean =>
    err instanceof SocketError || abortReasons.has(err) ||
    (err instanceof TypeError && /another read is already pending/.test(err.message));

  /** Tracks a read: its slot in call order is taken now, filled when it settles. */
  const trackRead = <T>(op: string, promise: Promise<T>, onValue: (value: T, slot: number) => void): void => {
    const slot = deliveries.push({ kind: "pending", op }) - 1;
    readsInFlight++;
    operations.push(promise.then(
      (value) => {
        readsInFlight--;
        deliveries[slot] = { kind: "nothing" };
        onValue(value, slot);
      },
      (err: unknown) => {
        readsInFlight--;
        deliveries[slot] = { kind: "nothing" };
        assert.ok(allowedError(err), `${op} rejected with an unexpected error: ${String(err)} ${(err as Error)?.stack ?? ""}`);
        if (err instanceof UnexpectedEofError) deliveries[slot] = { kind: "bytes", bytes: err.partial, op: `${op} (partial)` };
      },
    ));
  };

  const trackOther = (op: string, promise: Promise<unknown>): void => {
    operations.push(promise.then(() => {}, (err: unknown) => {
      assert.ok(err instanceof SocketError || abortReasons.has(err), `${op} rejected with an unexpected error: ${String(err)}`);
    }));
  };

  const stop = (): void => {
    if (!stopped) expected ??= "local";
    stopped = true;
  };

  const checkInvariants = (where: string): void => {
    assert.ok(endedSettles <= 1, `${where}: ended settled ${endedSettles} times`);
    assert.equal(
      endedValue !== undefined,
      expected !== undefined,
      `${where}: ended settled: ${JSON.stringify(endedValue)}, expected ${expected}`,
    );
    if (endedValue) {
      assert.equal(endedValue.reason, expected, `${where}: ended`);
      assert.equal(conn.signal.aborted, true, `${where}: conn.signal aborted once ended`);
    } else {
      assert.equal(conn.signal.aborted, false, `${where}: conn.signal not aborted before ended`);
    }
    if (rec.reportedClosed) assert.ok(closedResolved, `${where}: the source reported closed, but conn.closed is pending`);
    if (closedResolved) assert.ok(rec.reportedClosed || unwrapped, `${where}: conn.closed resolved before the source closed`);
    assert.deepEqual(rec.afterDetach.filter((name) => !KNOWN_AFTER_DETACH.has(name)), [], `${where}: source methods called after detach`);
  };

  for (const [step, c] of commands.entries()) {
    const where = `step ${step} (${c.t})`;
    switch (c.t) {
      case "data": {
        if (!stopped && !peerEnded) fed.push(...c.bytes);
        rec.sink().data(Uint8Array.from(c.bytes));
        break;
      }
      case "end":
        if (!stopped && !peerEnded) expected ??= "eof";
        if (!stopped) peerEnded = true;
        rec.sink().end();
        break;
      case "error": {
        if (!stopped && !peerEnded && expected === undefined) {
          // EPIPE comes only after the peer's FIN: the read side ended cleanly (SPEC 2).
          expected = c.code === "EPIPE" ? "eof" : reasonOfCode(c.code);
          if (c.code !== "EPIPE") endCode = c.code;
        }
        if (!stopped) peerEnded = true;
        const err = c.code === "" ? new Error("something failed") : Object.assign(new Error(`read ${c.code}`), { code: c.code });
        rec.sink().error(err);
        break;
      }
      case "closed":
        if (!stopped && !peerEnded) expected ??= "eof";
        if (!stopped) peerEnded = true;
        rec.reportedClosed = true;
        rec.sink().closed();
        break;
      case "tick":
        await flush();
        checkInvariants(where);
        break;
      case "read":
        trackRead("read", conn.read(c.abort === "none" ? undefined : { signal: signalFor(c.abort) }), (value, slot) => {
          if (value !== null) deliveries[slot] = { kind: "bytes", bytes: value, op: "read" };
        });
        break;
      case "peek":
        trackRead("peek", conn.peek(c.abort === "none" ? undefined : { signal: signalFor(c.abort) }), (value, slot) => {
          if (value !== null) deliveries[slot] = { kind: "peek", bytes: value.slice() };
        });
        break;
      case "readExactly":
        trackRead("readExactly", conn.readExactly(c.n, c.abort === "none" ? undefined : { signal: signalFor(c.abort) }), (value, slot) => {
          assert.equal(value.length, c.n, "readExactly returned another length");
          deliveries[slot] = { kind: "bytes", bytes: value, op: "readExactly" };
        });
        break;
      case "readUntil": {
        const signal = signalFor(c.abort);
        const delim = encoder.encode(c.delimiter);
        trackRead("readUntil", conn.readUntil(c.delimiter, { maxBytes: c.maxBytes, ...(signal ? { signal } : {}) }), (value, slot) => {
          if (value === null) return;
          assert.equal(indexOf(value, delim), value.length - delim.length, "readUntil returns up to and including the first delimiter");
          assert.ok(value.length - delim.length <= c.maxBytes, "readUntil kept to maxBytes");
          deliveries[slot] = { kind: "bytes", bytes: value, op: "readUntil" };
        });
        break;
      }
      case "lines": {
        if (c.fresh || !lines || linesDone) {
          lines = conn.lines({ maxBytes: c.maxBytes })[Symbol.asyncIterator]();
          linesDone = false;
        }
        const next = lines.next();
        trackRead(
          "lines",
          next.catch((err: unknown) => {
            linesDone = true;
            throw err;
          }),
          (result, slot) => {
            if (result.done) linesDone = true;
            else deliveries[slot] = { kind: "line", line: result.value };
          },
        );
        break;
      }
      case "iterate":
        trackRead("iterate", conn[Symbol.asyncIterator]().next(), (result, slot) => {
          if (!result.done) deliveries[slot] = { kind: "bytes", bytes: result.value, op: "iterate" };
        });
        break;
      case "write": {
        const signal = signalFor(c.abort);
        trackOther("write", conn.write(new Uint8Array(c.size).fill(0x78), signal ? { signal } : undefined));
        break;
      }
      case "closeWrite":
        trackOther("closeWrite", conn.closeWrite());
        break;
      case "close":
        if (!unwrapped) stop();
        trackOther("close", conn.close());
        break;
      case "reset":
        if (!unwrapped) stop();
        conn.reset();
        break;
      case "unwrap": {
        const wasPending = readsInFlight > 0;
        try {
          const { buffered, native } = conn.unwrap();
          assert.ok(!stopped, `${where}: unwrap succeeded on a stopped Conn`);
          assert.equal(native, rec.source.native);
          deliveries.push({ kind: "bytes", bytes: buffered, op: "unwrap" });
          stop();
          unwrapped = true;
        } catch (err) {
          if (err instanceof SocketClosedError || abortReasons.has(err)) {
            assert.ok(stopped, `${where}: unwrap refused a running Conn: ${String(err)}`);
          } else if (err instanceof TypeError) assert.ok(wasPending, `${where}: unwrap said a read is pending, none is`);
          else throw err;
        }
        break;
      }
      case "abortOps":
        for (const { controller, reason } of laterAborts.splice(0)) controller.abort(reason);
        break;
      case "abortConn": {
        const reason = new Error("conn aborted");
        abortReasons.add(reason);
        // The core stops listening to the signal once stopped or once the source closed.
        if (!stopped && !rec.reportedClosed) {
          expected ??= "aborted";
          stopped = true;
        }
        connAbort.abort(reason);
        break;
      }
    }
  }

  // The end: the peer ends (if nothing did), every operation settles, the rest is drained.
  await flush();
  checkInvariants("after the sequence");
  if (!stopped && !peerEnded) {
    expected ??= "eof";
    peerEnded = true;
    rec.sink().end();
  }
  for (const { controller, reason } of laterAborts.splice(0)) controller.abort(reason);
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(operations),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("an operation never settled")), 2000))),
  ]).finally(() => clearTimeout(timer));
  if (!stopped) {
    // After the buffered bytes, reads meet the end: null at EOF, else the error, sticky.
    let last: unknown;
    for (let i = 0; i <= fed.length + 1; i++) {
      const chunk = await conn.read().catch((err: unknown) => (last = err, null));
      if (chunk === null) break;
      deliveries.push({ kind: "bytes", bytes: chunk, op: "drain" });
    }
    if (expected === "eof") {
      assert.equal(last, undefined, `the read side ended at EOF, but the drain met ${String(last)}`);
      assert.equal(await conn.read(), null, "EOF is sticky");
    } else {
      assert.ok(last instanceof SocketError, `the read side ended with ${expected}, but the drain met ${String(last)}`);
      if (endCode) assert.equal(last.code, endCode);
      assert.equal(await conn.read().catch((err: unknown) => err), last, "the error is sticky");
      assert.equal(endedValue?.error, last, "ended carries the same error the reads meet");
    }
  }
  checkInvariants("after draining");

  // Every delivery, in call order, matches the bytes the core accepted, from the start.
  const whole = Uint8Array.from(fed);
  let at = 0;
  for (const [i, d] of deliveries.entries()) {
    const matches = (bytes: Uint8Array): boolean => bytes.every((b, j) => whole[at + j] === b) && at + bytes.length <= whole.length;
    if (d.kind === "pending") assert.fail(`delivery ${i} (${d.op}) never settled`);
    if (d.kind === "nothing") continue;
    if (d.kind === "peek") {
      assert.ok(matches(d.bytes), `delivery ${i}: peek showed bytes that are not next`);
    } else if (d.kind === "bytes") {
      assert.ok(
        matches(d.bytes),
        `delivery ${i} (${d.op}): ${JSON.stringify([...d.bytes])} is not what came next at ${at} of ${JSON.stringify(fed)}`,
      );
      at += d.bytes.length;
    } else {
      const line = encoder.encode(d.line);
      assert.ok(matches(line), `delivery ${i}: line ${JSON.stringify(d.line)} is not what came next at ${at} of ${JSON.stringify(fed)}`);
      const after = at + line.length;
      if (whole[after] === 0x0a) {
        assert.ok(line[line.length - 1] !== 0x0d, `delivery ${i}: line ${JSON.stringify(d.line)} kept the CR of its CRLF`);
        at = after + 1;
      } else if (whole[after] === 0x0d && whole[after + 1] === 0x0a) {
        at = after + 2;
      } else {
        assert.equal(after, whole.length, `delivery ${i}: line ${JSON.stringify(d.line)} was cut before its line ending`);
        assert.equal(expected, "eof", `delivery ${i}: an unterminated last line is returned only at a clean EOF`);
        at = after;
      }
    }
  }
  if (!stopped || unwrapped) {
    assert.equal(at, whole.length, `${whole.length - at} of ${whole.length} accepted bytes were never delivered`);
  }

  // Every path ends with the handle closed.
  conn.reset();
  await flush();
  assert.ok(closedResolved, "conn.closed resolves after reset()");
  assert.equal(endedSettles, 1);
}

describe("the core against a model (fast-check)", () => {
  // Minimal reproductions of the bugs named in FIXED: each fails today.
  test.skipIf(!FIXED.writeAfterUnwrap, "core bug: a write queued before unwrap() is written after detach()")(
    "a write() queued before unwrap() is never written to the socket after it was handed over",
    async () => {
      const rec = recorder();
      const conn = createConn(rec.source);
      const writing = conn.write("A").catch(() => {});
      conn.unwrap();
      await writing;
      await flush();
      assert.deepEqual(rec.afterDetach, []);
    },
  );

  test.skipIf(!FIXED.closeWriteAfterUnwrap, "core bug: a closeWrite() pending at unwrap() reaches the socket after detach()")(
    "a closeWrite() pending at unwrap() neither half-closes nor closes the socket after it was handed over",
    async () => {
      for (const peerEnded of [true, false]) {
        const rec = recorder();
        const conn = createConn(rec.source);
        if (peerEnded) rec.sink().end();
        const closingWrite = conn.closeWrite().catch(() => {});
        conn.unwrap();
        await closingWrite;
        await flush();
        assert.deepEqual(rec.afterDetach, [], peerEnded ? "after the peer's FIN" : "while open");
      }
    },
  );

  test(`${RUNS} random sequences of source events and user calls keep every invariant`, async () => {
    const stray: unknown[] = [];
    const onStray = (reason: unknown): void => void stray.push(reason);
    process.on("unhandledRejection", onStray);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { maxLength: MAX_STEPS }), fc.integer({ min: 1, max: 16 }), async (commands, highWaterMark) => {
          stray.length = 0;
          await runSequence(commands, highWaterMark);
          await new Promise((resolve) => setTimeout(resolve, 0));
          assert.deepEqual(stray.map(String), [], "unhandled rejections");
        }),
        { numRuns: RUNS },
      );
    } finally {
      process.off("unhandledRejection", onStray);
    }
  }, { timeout: 120_000 });
});
