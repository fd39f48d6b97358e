/** The core's policies over a scripted source: buffering bounds, flow control, the read helpers' edges. */
import assert from "node:assert/strict";
import {
  BrokenPipeError,
  ConnectionResetError,
  createConn,
  createListener,
  LimitExceededError,
  serve,
  SocketClosedError,
  UnexpectedEofError,
  WriteTimeoutError,
} from "../../src/index.ts";
import { ChunkQueue } from "../../src/chunk-queue.ts";
import { describe, test } from "../support/harness.ts";
import { scripted } from "../support/scripted-source.ts";

describe("core Conn over a scripted source", () => {
  test("pauses the source at highWaterMark and resumes once the reader drains below it", async () => {
    const { source, state, sink } = scripted();
    const conn = createConn(source, { highWaterMark: 1000 });
    for (let i = 0; i < 3; i++) sink().data(new Uint8Array(400));
    assert.equal(state.paused, true, "paused at 1200 ≥ 1000 buffered bytes");
    await conn.read();
    assert.equal(state.paused, false, "800 < 1000 buffered bytes: resumed");
    assert.equal(state.pauses, 1);
    await conn.close();
  });

  test("createConn() and createListener() refuse an option they do not have by name (wrap() takes its options through them)", async () => {
    assert.throws(() => createConn(scripted().source, { idletimeout: 5000 } as never), {
      name: "TypeError",
      message: "options.idletimeout is not an option of a connection: did you mean idleTimeout?",
    });
    assert.throws(
      () => createConn(scripted().source, { port: 80 } as never),
      /^TypeError: options\.port is not an option of a connection \(it has idleTimeout/,
    );
    const listenerSource = { addr: { transport: "tcp" as const, hostname: "", port: 0 }, start: () => {}, close: async () => {} };
    assert.throws(
      () => createListener(listenerSource, { backlog: 5 } as never),
      /^TypeError: options\.backlog is not an option of a listener's connections/,
    );
    createConn(scripted().source, { idleTimeout: undefined, signal: undefined }).reset();
  });

  test("a readExactly past highWaterMark resumes the source while it waits", async () => {
    const { source, state, sink } = scripted();
    const conn = createConn(source, { highWaterMark: 100 });
    sink().data(new Uint8Array(150));
    assert.equal(state.paused, true);
    const pending = conn.readExactly(300);
    await Promise.resolve();
    assert.equal(state.paused, false, "a read that needs more bytes resumes the source");
    sink().data(new Uint8Array(150));
    assert.equal((await pending).length, 300);
    await conn.close();
  });

  test("readUntil leaves bytes buffered at the limit; readExactly's partial holds the bytes before EOF", async () => {
    const { source, sink } = scripted();
    const conn = createConn(source);
    sink().data(new TextEncoder().encode("abcdefgh"));
    const err = await conn.readUntil("\n", { maxBytes: 4 }).catch((e: unknown) => e);
    assert.ok(err instanceof LimitExceededError && err.limit === 4);
    assert.equal(new TextDecoder().decode((await conn.peek())!), "abcdefgh");
    sink().end();
    const eof = await conn.readExactly(10).catch((e: unknown) => e);
    assert.ok(eof instanceof UnexpectedEofError);
    assert.equal(new TextDecoder().decode(eof.partial), "abcdefgh");
    assert.equal(await conn.read(), null);
  });
});

describe("a lingering close() over a scripted source", () => {
  /** A source that records the calls the core makes; `holdWrites` keeps each write in flight until `release()`. */
  function lingering(holdWrites = false) {
    const calls: string[] = [];
    let release: () => void = () => {};
    const script = scripted({
      write: (bytes) => {
        calls.push(`write ${bytes.length}`);
        return holdWrites ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
      },
      closeWrite: async () => void calls.push("closeWrite"),
      close: async () => {
        calls.push("close");
        script.sink().closed();
      },
      destroy: () => {
        calls.push("destroy");
        script.sink().closed();
      },
      reset: () => {
        calls.push("reset");
        script.sink().closed();
      },
      linger: () => void calls.push("linger"),
    });
    return { ...script, calls, release: () => release() };
  }

  test("after a write: sends the FIN, resumes a paused source, resolves, and ends at the peer's FIN with destroy", async () => {
    const { source, state, sink, calls } = lingering();
    const conn = createConn(source, { highWaterMark: 100 });
    sink().data(new Uint8Array(200));
    assert.equal(state.paused, true);
    await conn.write("reply");
    await conn.close();
    assert.equal(state.paused, false, "reading goes on, so the kernel never holds unread bytes");
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger"]);
    await conn.closed;
    sink().data(new Uint8Array(1000)); // dropped
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger"]);
    sink().end();
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger", "destroy"]);
    sink().error(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    conn.reset();
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger", "destroy"], "a late error or reset changes nothing");
  });

  test("with closeAwaitsLinger (Workers), close() resolves only once the linger ended: at the peer's FIN", async () => {
    const { source, sink, calls } = lingering();
    const conn = createConn({ ...source, linger: source.linger, closeAwaitsLinger: true } as typeof source);
    await conn.write("reply");
    let closed = false;
    const closing = conn.close().then(() => (closed = true));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger"]);
    assert.equal(closed, false, "close() waits for the peer's FIN");
    sink().end();
    await closing;
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger", "destroy"]);
  });

  test("reset() after close() ends the linger at once, with destroy (the FIN already went), not an RST", async () => {
    const { source, calls } = lingering();
    const conn = createConn(source);
    await conn.write("reply");
    await conn.close();
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger"]);
    conn.reset();
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger", "destroy"]);
  });

  test("ends with destroy after 2 s when the peer never sends its FIN", async () => {
    const { source, calls } = lingering();
    const conn = createConn(source);
    await conn.write("reply");
    const started = Date.now();
    await conn.close();
    for (let i = 0; i < 80 && !calls.includes("destroy"); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const took = Date.now() - started;
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger", "destroy"]);
    assert.ok(took >= 1900 && took < 3500, `lingered ${took} ms`);
  });

  test("closes at once when the peer's FIN came during the flush", async () => {
    const { source, sink, calls, release } = lingering(true);
    const conn = createConn(source);
    void conn.write("reply");
    await Promise.resolve();
    const closing = conn.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    sink().end();
    release();
    await closing;
    assert.deepEqual(calls, ["write 5", "closeWrite", "close"]);
  });

  test("waits for a closeWrite() still in progress before it lingers: close() resolves after the FIN", async () => {
    const { source, calls, release } = lingering(true);
    const conn = createConn(source);
    void conn.write("reply");
    await Promise.resolve();
    const shutting = conn.closeWrite();
    const closing = conn.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(calls, ["write 5"], "the write is still in flight: no FIN yet");
    release();
    await closing;
    await shutting;
    assert.deepEqual(calls, ["write 5", "closeWrite", "linger"], "one FIN, then the linger");
    await conn.closed;
  });

  test("does not linger with nothing written, after the peer's FIN, or for a source without linger", async () => {
    const idle = lingering();
    await createConn(idle.source).close();
    assert.deepEqual(idle.calls, ["close"], "nothing of ours for an RST to discard");

    const ended = lingering();
    const conn = createConn(ended.source);
    await conn.write("reply");
    ended.sink().end();
    await conn.close();
    assert.deepEqual(ended.calls, ["write 5", "close"]);

    let closes = 0;
    const plain = scripted({ close: async () => void (closes++, plain.sink().closed()) });
    const plainConn = createConn(plain.source);
    await plainConn.write("reply");
    await plainConn.close();
    assert.equal(closes, 1);
  });
});

describe("writes over a scripted source", () => {
  // The harness fails any case that leaves an unhandled rejection behind.
  test("replies written without awaiting after the connection failed are refused, never unhandled", async () => {
    const { source, sink } = scripted();
    const conn = createConn(source);
    // A pipelining client's three commands, then its reset: the loop still answers the buffered ones.
    sink().data(new TextEncoder().encode("a\nb\nc\n"));
    sink().error(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    let answered = 0;
    await assert.rejects(async () => {
      for await (const line of conn.lines()) {
        void conn.write(`${line}!\n`); // as a pipelining server does: not awaited
        answered++;
      }
    }, ConnectionResetError);
    assert.equal(answered, 3, "every buffered command was answered");
    await assert.rejects(conn.write("late\n"), ConnectionResetError);
  });
});

describe("unwrap() during a write sent in pieces (writeTimeout), over a scripted source", () => {
  /** A source whose writes stay in flight until settled by hand, recorded with their sizes. */
  function pieced() {
    const writes: { size: number; settle: () => void }[] = [];
    const calls: string[] = [];
    const script = scripted({
      write: (bytes) => new Promise<void>((resolve) => void writes.push({ size: bytes.length, settle: resolve })),
      reset: () => void calls.push("reset"),
    });
    return { ...script, writes, calls };
  }
  const big = new Uint8Array(1 << 20); // four pieces of 256 KiB

  test("the rest goes to the source whole, and the write settles once it is written", async () => {
    const { source, writes } = pieced();
    const conn = createConn(source, { writeTimeout: 60_000 });
    let settled = false;
    const writing = conn.write(big).then(() => (settled = true));
    await null;
    await null;
    assert.deepEqual(writes.map((w) => w.size), [256 << 10], "the first piece is in flight");
    conn.unwrap();
    assert.deepEqual(writes.map((w) => w.size), [256 << 10, 768 << 10], "the rest was handed over at once");
    writes[0]!.settle();
    for (let tick = 0; tick < 5; tick++) await null;
    assert.equal(settled, false, "not before the rest is written");
    writes[1]!.settle();
    await writing;
  });

  test("a closeWrite() waiting at unwrap() settles, and an aborted write's rest is still handed over whole", async () => {
    const { source, writes } = pieced();
    const conn = createConn(source, { writeTimeout: 60_000 });
    const abort = new AbortController();
    const writing = conn.write(big, { signal: abort.signal });
    const closing = conn.closeWrite();
    await null;
    await null;
    abort.abort(new Error("no longer wanted"));
    await assert.rejects(writing, /no longer wanted/);
    conn.unwrap();
    assert.deepEqual(writes.map((w) => w.size), [256 << 10, 768 << 10], "a write torn off mid-way would corrupt what follows");
    writes[0]!.settle();
    writes[1]!.settle();
    await assert.rejects(closing, SocketClosedError);
  });

  test("a write aborted between its pieces still goes whole, and the next write follows it", async () => {
    const { source, writes } = pieced();
    const conn = createConn(source, { writeTimeout: 60_000 });
    const abort = new AbortController();
    const writing = conn.write(big, { signal: abort.signal });
    const next = conn.write("next");
    await null;
    await null;
    abort.abort(new Error("no longer wanted"));
    await assert.rejects(writing, /no longer wanted/);
    for (let piece = 0; piece < 5 && writes.length > piece; piece++) {
      writes[piece]!.settle();
      for (let tick = 0; tick < 5; tick++) await null;
    }
    assert.deepEqual(writes.map((w) => w.size), [256 << 10, 256 << 10, 256 << 10, 256 << 10, 4]);
    await next;
  });

  test("the write timer stops: a handed-over socket is never reset by the old Conn", async () => {
    const { source, writes, calls } = pieced();
    const conn = createConn(source, { writeTimeout: 50 });
    void conn.write(big).catch(() => {});
    await null;
    await null;
    assert.equal(writes.length, 1);
    conn.unwrap();
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(calls, [], "no reset after unwrap()");
    for (const write of writes) write.settle();
  });
});

describe("writeTimeout and a slow but steady reader, over a scripted source", () => {
  /** A source whose peer takes `bytesPerMs`: each write completes after its share of time. */
  function steady(bytesPerMs: number) {
    const sizes: number[] = [];
    const script = scripted({
      write: (bytes) => {
        sizes.push(bytes.length);
        return new Promise<void>((resolve) => setTimeout(resolve, bytes.length / bytesPerMs));
      },
    });
    return { ...script, sizes };
  }

  test("a reader that takes 16 KiB within each writeTimeout is never cut: under 16 s the pieces shrink", async () => {
    // 80 bytes/ms: a 256 KiB piece would take 3.3 s; a 16 KiB one takes 205 ms, inside 400 ms.
    const { source, sizes } = steady(80);
    const conn = createConn(source, { writeTimeout: 400 });
    await conn.write(new Uint8Array(128 << 10));
    assert.ok(sizes.every((size) => size <= 16 << 10), `pieces of at most 16 KiB, got ${sizes.join(", ")}`);
    assert.equal(sizes.reduce((sum, size) => sum + size, 0), 128 << 10);
  });

  test("a reader slower than a piece per writeTimeout is cut, and the error says how much it did not take", async () => {
    const { source } = steady(20);
    const conn = createConn(source, { writeTimeout: 400 });
    const err = await conn.write(new Uint8Array(128 << 10)).then(() => undefined, (error: unknown) => error);
    assert.ok(err instanceof WriteTimeoutError, `got ${String(err)}`);
    assert.equal(err.message, "Cannot write: the peer did not take 16384 bytes within 400 ms");
  });
});

describe("close() without a writeTimeout, over a scripted source", () => {
  /**
   * Runs `body` with a clock that `skip(ms)` moves on, and timers of 1 s or more firing after
   * 20 ms of real time (to be checked against that clock): minutes pass in milliseconds.
   */
  async function withFastClock(body: (skip: (ms: number) => void, realSleep: (ms: number) => Promise<void>) => Promise<void>) {
    const realNow = Date.now;
    const realSetTimeout = globalThis.setTimeout;
    let skipped = 0;
    Date.now = () => realNow() + skipped;
    globalThis.setTimeout =
      ((handler: () => void, delay?: number) =>
        realSetTimeout(handler, delay !== undefined && delay >= 1000 ? 20 : delay)) as typeof setTimeout;
    try {
      await body((ms) => (skipped = ms), (ms) => new Promise((resolve) => realSetTimeout(resolve, ms)));
    } finally {
      Date.now = realNow;
      globalThis.setTimeout = realSetTimeout;
    }
  }

  /**
   * close() over a write of `size` bytes the peer never takes: still open once the clock skipped
   * `openAt` ms, done once it skipped `doneBy` ms. What the write and the source saw, for the test.
   */
  async function closeOverUntakenWrite(size: number, openAt: number, doneBy: number) {
    const calls: string[] = [];
    const { source } = scripted({ write: () => new Promise<void>(() => {}), reset: () => void calls.push("reset") });
    const conn = createConn(source);
    const writing = conn.write(new Uint8Array(size)).then(() => "resolved", (err: unknown) => err);
    await null;
    await null;
    let closed = false;
    let callsWhileOpen: string[] = [];
    await withFastClock(async (skip, realSleep) => {
      const closing = conn.close().then(() => (closed = true));
      skip(openAt);
      await realSleep(150);
      assert.equal(closed, false, `still flushing after ${openAt} ms`);
      callsWhileOpen = [...calls];
      skip(doneBy);
      for (let i = 0; i < 100 && !closed; i++) await realSleep(20);
      await closing;
    });
    return { conn, outcome: await writing, calls, callsWhileOpen };
  }

  test("its flush gets serve()'s 60 s: a peer that never takes it cannot hold close() forever", async () => {
    const { conn, outcome, calls } = await closeOverUntakenWrite(256 << 10, 59_000, 61_000);
    assert.ok(outcome instanceof WriteTimeoutError, "the unflushed write rejects with WriteTimeoutError");
    assert.deepEqual(calls, ["reset"], "the connection is reset");
    assert.equal((await conn.ended).reason, "local", "close() had stopped the connection first");
  });

  test("serve() gives a connection without a writeTimeout of its own 60 s: a client that never reads cannot hold its handler forever", async () => {
    const calls: string[] = [];
    const { source } = scripted({ write: () => new Promise<void>(() => {}), reset: () => void calls.push("reset") });
    const listener = createListener({
      addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
      start: (sink) => sink.connection(source),
      close: async () => {},
    });
    let settled: unknown = "pending";
    const outcomeNow = (): unknown => settled; // read through a call: the handler sets it
    let handled!: () => void;
    const handlerDone = new Promise<void>((resolve) => (handled = resolve));
    await null; // the harness arms its own timeout first, with the real clock
    await withFastClock(async (skip, realSleep) => {
      let writing = false;
      const serving = serve(listener, async (conn) => {
        writing = true;
        settled = await conn.write(new Uint8Array(1000)).then(() => "resolved", (err: unknown) => err);
        handled();
      });
      for (let i = 0; i < 100 && !writing; i++) await realSleep(5);
      await realSleep(20); // the write went to the source, and its timer was armed
      skip(59_000);
      await realSleep(150);
      assert.equal(outcomeNow(), "pending", "not cut before its 60 s");
      skip(61_000);
      for (let i = 0; i < 100 && outcomeNow() === "pending"; i++) await realSleep(20);
      const outcome = outcomeNow();
      assert.ok(outcome instanceof WriteTimeoutError, `got ${String(outcome)}`);
      assert.equal(outcome.message, "Cannot write: the peer did not take 1000 bytes within 60000 ms");
      await handlerDone;
      await listener.close();
      await serving;
    });
    assert.deepEqual(calls, ["reset"], "the connection is reset");
  });

  test("a big write goes in pieces of 256 KiB, so a peer that takes none of 1 MiB holds close() 60 s, not 4 minutes", async () => {
    const { outcome, calls, callsWhileOpen } = await closeOverUntakenWrite(1 << 20, 59_000, 61_000);
    assert.deepEqual(callsWhileOpen, [], "not cut before its 60 s");
    assert.ok(outcome instanceof WriteTimeoutError, `got ${String(outcome)}`);
    assert.equal(outcome.message, "Cannot write: the peer did not take 262144 bytes within 60000 ms");
    assert.deepEqual(calls, ["reset"]);
  });

  test("a peer that takes a 256 KiB piece every 50 s is never cut: close() resolves once the whole write went", async () => {
    const written: number[] = [];
    const calls: string[] = [];
    let take: (() => void) | undefined;
    const { source } = scripted({
      write: (bytes) => {
        written.push(bytes.length);
        return new Promise<void>((resolve) => (take = resolve));
      },
      reset: () => void calls.push("reset"),
    });
    const conn = createConn(source);
    const writing = conn.write(new Uint8Array(1 << 20)).then(() => "resolved", (err: unknown) => err);
    await null;
    await null;
    await withFastClock(async (skip, realSleep) => {
      let closed = false;
      const closing = conn.close().then(() => (closed = true));
      for (let piece = 1; piece <= 4; piece++) {
        skip(piece * 50_000);
        await realSleep(60); // the write timer, had it fired, would have cut the piece by now
        assert.deepEqual(calls, [], `still going at piece ${piece}`);
        const taking = take!;
        take = undefined;
        taking();
        for (let i = 0; i < 20 && take === undefined && !closed; i++) await realSleep(5);
      }
      await closing;
    });
    assert.equal(await writing, "resolved");
    assert.deepEqual(written, [262144, 262144, 262144, 262144], "four pieces, each within its 60 s");
    assert.deepEqual(calls, []);
  });
});

describe("heartbeat over a scripted source", () => {
  test("a heartbeat whose write meets a reset ends the connection as a reset, never unhandled", async () => {
    const { source } = scripted({
      write: () => Promise.reject(Object.assign(new Error("write ECONNRESET"), { code: "ECONNRESET" })),
    });
    const conn = createConn(source, { heartbeat: { interval: 10, message: "ping\n" } });
    const info = await conn.ended;
    assert.equal(info.reason, "reset");
    assert.ok(info.error instanceof ConnectionResetError);
    await conn.closed;
    const later = await conn.write("x").catch((e: unknown) => e);
    assert.ok(later instanceof ConnectionResetError);
  });

  test("a heartbeat that meets EPIPE fails later writes, and the read side ends as the source reports (SPEC 2: a FIN is never an error)", async () => {
    const { source, sink } = scripted({
      write: () => Promise.reject(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })),
    });
    const conn = createConn(source, { heartbeat: { interval: 10, message: "ping\n" } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const later = await conn.write("x").catch((e: unknown) => e);
    assert.ok(later instanceof BrokenPipeError);
    assert.equal(later.message, "Cannot write: broken pipe, the peer closed the connection");
    sink().end();
    assert.deepEqual(await conn.ended, { reason: "eof" });
    conn.reset();
    await conn.closed;
  });

  test("heartbeats are written only when nothing else was written for the interval", async () => {
    const { source, state } = scripted();
    const conn = createConn(source, { heartbeat: { interval: 40, message: "." } });
    for (let i = 0; i < 6; i++) {
      await conn.write("data");
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    const duringWrites = state.written.map((b) => new TextDecoder().decode(b));
    assert.deepEqual(duringWrites, Array(6).fill("data"));
    await new Promise((resolve) => setTimeout(resolve, 130));
    const beats = state.written.length - 6;
    assert.ok(beats >= 2 && beats <= 4, `expected about 3 heartbeats in 130 ms at 40 ms, got ${beats}`);
    await conn.close();
    const afterClose = state.written.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(state.written.length, afterClose, "no heartbeat after close");
  });
});

describe("ref() and unref() over a scripted source", () => {
  test("unref() and ref() tell the source only when the state changes; close() and unwrap() hand the socket on referenced", async () => {
    const refs: boolean[] = [];
    const setRef = (referenced: boolean) => void refs.push(referenced);
    const first = createConn(scripted({ setRef }).source, {});
    first.ref();
    assert.deepEqual(refs, [], "referenced from the start");
    first.unref();
    first.unref();
    first.ref();
    first.unref();
    assert.deepEqual(refs, [false, true, false]);
    await first.close();
    assert.deepEqual(refs, [false, true, false, true], "close() refs it again for its flush and linger");
    first.unref();
    assert.equal(refs.length, 4, "closed: nothing to tell");

    refs.length = 0;
    const second = createConn(scripted({ setRef }).source, {});
    second.unref();
    second.unwrap();
    second.ref();
    second.unref();
    assert.deepEqual(refs, [false, true], "unwrap() hands the socket over referenced, and leaves it to its new owner");

    refs.length = 0;
    const closing = createConn(scripted({ setRef }).source, {});
    const closed = closing.close();
    closing.unref();
    await closed;
    assert.deepEqual(refs, [], "once close() began, its flush and linger hold the process: unref() is ignored");

    const third = createConn(scripted({ setRef }).source, {});
    third.unref();
    third.reset();
    third.ref();
    assert.deepEqual(refs, [false], "reset: the handle is released, nothing to tell");
  });

  test("a listener's unref() and ref() tell its source only when the state changes, and nothing once it is closed", async () => {
    const refs: boolean[] = [];
    const listener = createListener({
      addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
      start: () => {},
      setRef: (referenced) => void refs.push(referenced),
      close: async () => {},
    });
    listener.ref();
    listener.unref();
    listener.unref();
    listener.ref();
    await listener.close();
    listener.unref();
    assert.deepEqual(refs, [false, true]);
  });

  test("unref() and ref() during a write in flight keep its write timeout where it was", async () => {
    const { source } = scripted({ write: () => new Promise<void>(() => {}) });
    const conn = createConn(source, { writeTimeout: 300 });
    const started = Date.now();
    const outcome = conn.write("stuck").then(() => undefined, (error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 150));
    conn.unref();
    await new Promise((resolve) => setTimeout(resolve, 100));
    conn.ref();
    const err = await outcome;
    const took = Date.now() - started;
    assert.ok(err instanceof WriteTimeoutError, `got ${String(err)}`);
    assert.ok(took >= 280 && took < 600, `timed out after ${took} ms, for a writeTimeout of 300`);
  });
});

describe("ChunkQueue", () => {
  test("finds a delimiter split across chunks, resuming the search, and takes exact byte counts", async () => {
    const q = new ChunkQueue();
    const delim = new TextEncoder().encode("\r\n\r\n");
    for (const part of ["GET / HTTP/1.1\r", "\nHost: x\r\n", "\r", "\nbody"]) q.push(new TextEncoder().encode(part));
    const at = q.indexOf(delim, 1 << 16);
    assert.equal(at, "GET / HTTP/1.1\r\nHost: x".length);
    assert.equal(new TextDecoder().decode(q.take(at + 4)), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(new TextDecoder().decode(q.takeAll()), "body");
    assert.equal(q.length, 0);
  });
});
