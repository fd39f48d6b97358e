/** The core's policies over a scripted source: buffering bounds, flow control, the read helpers' edges. */
import assert from "node:assert/strict";
import { type ConnSink, type ConnSource, createConn, LimitExceededError, UnexpectedEofError } from "../../src/index.ts";
import { ChunkQueue } from "../../src/chunk-queue.ts";
import { describe, test } from "../support/harness.ts";

function scripted() {
  let sink!: ConnSink;
  const state = { paused: false, pauses: 0 };
  const source: ConnSource = {
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 },
    native: null,
    start: (s) => void (sink = s),
    pause: () => void ((state.paused = true), state.pauses++),
    resume: () => void (state.paused = false),
    write: async () => {},
    closeWrite: async () => {},
    close: async () => sink.closed(),
    destroy: () => sink.closed(),
    reset: () => sink.closed(),
    detach: () => {},
  };
  return { source, state, sink: () => sink };
}

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
