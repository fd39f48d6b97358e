/**
 * fromStreams over real TCP: each runtime's own Web Streams view of a socket
 * (Deno's conn.readable/writable, Duplex.toWeb on Node and Bun) becomes a Conn.
 */
import assert from "node:assert/strict";
import { ConnectionResetError, fromStreams, IdleTimeoutError, SocketClosedError, UnexpectedEofError } from "../../src/index.ts";
import type { Conn, ConnOptions, StreamNative } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, concat, MAX_CHUNK, rejection, sleep, text, within } from "../support/fixtures.ts";
import { connectStreams, nativeStreamsHalfClose } from "../support/native.ts";
import { type Peer, sha256, withPeer } from "../support/peer.ts";
import { capabilities, runtime } from "../support/runtime.ts";

interface StreamsPair {
  conn: Conn<StreamNative>;
  peer: Peer;
  remote: number;
}

function withStreams(body: (pair: StreamsPair) => Promise<void>, options: ConnOptions = {}): () => Promise<void> {
  return () =>
    withPeer(async (peer) => {
      const { listener, port } = await peer.listen();
      const [streams, remote] = await Promise.all([connectStreams(port), peer.accept(listener)]);
      await peer.close(listener);
      const conn = fromStreams(streams, options);
      try {
        await body({ conn, peer, remote });
      } finally {
        conn.reset();
        await conn.closed;
      }
    });
}

describe(`fromStreams (${runtime}'s own streams over TCP)`, () => {
  test(
    "the loop yields every byte, then ends at the peer's FIN",
    withStreams(async ({ conn, peer, remote }) => {
      const sending = peer.send(remote, { size: 1 << 20, then: "fin" });
      const received = await collect(conn);
      assert.equal(sha256(received), (await sending).sha256);
      assert.deepEqual(await conn.ended, { reason: "eof" });
    }),
  );

  test(
    "writes reach the peer; closeWrite sends FIN and the peer's later bytes are still read (Deno's conn.writable: a full close)",
    withStreams(async ({ conn, peer, remote }) => {
      await conn.write("request");
      // Not awaited yet: Node's Duplex.toWeb resolves the writable's close only once both directions are done.
      const closingWrite = conn.closeWrite();
      const seen = await peer.recv(remote);
      assert.equal(text(seen.data), "request");
      assert.equal(seen.end, "eof");
      if (nativeStreamsHalfClose) {
        await peer.send(remote, { text: "response", then: "fin" });
        assert.equal(text(await collect(conn)), "response");
        await closingWrite;
      } else {
        // The documented fallback: the runtime's writable closes the whole socket, so this is a full close.
        await closingWrite;
        const info = await within(3000, conn.ended, "ended after the runtime closed the socket");
        assert.equal(info.reason, "error");
        assert.ok(info.error instanceof SocketClosedError, `got ${String(info.error)}`);
      }
    }),
  );

  test(
    "a reset after data: the bytes first, then what the stream reports",
    withStreams(async ({ conn, peer, remote }) => {
      await peer.send(remote, { text: "last words", then: "rst" });
      const chunks: Uint8Array[] = [];
      const outcome = await collect(conn, chunks).then(() => "eof", (err: unknown) => err);
      assert.equal(text(concat(chunks)), "last words");
      if (capabilities.falseEof) {
        // Node 20/22's socket reports most resets after data as 'end', and a stream cannot be probed.
        assert.ok(outcome === "eof" || outcome instanceof ConnectionResetError, `got ${String(outcome)}`);
      } else {
        assert.ok(outcome instanceof ConnectionResetError, `expected ConnectionResetError, got ${String(outcome)}`);
        assert.equal((await conn.ended).reason, "reset");
      }
    }),
  );

  test(
    "readExactly and lines work over drip-fed streams",
    withStreams(async ({ conn, peer, remote }) => {
      const dripping = peer.drip(remote, { text: "HDR!héllo\r\nwörld\npartial", intervalMs: 1, piece: 2 });
      assert.equal(text(await conn.readExactly(4)), "HDR!");
      const lines: string[] = [];
      const reading = (async () => {
        for await (const line of conn.lines()) lines.push(line);
      })();
      await dripping;
      await peer.fin(remote);
      await reading;
      assert.deepEqual(lines, ["héllo", "wörld", "partial"]);
      const eof = await rejection(conn.readExactly(1));
      assert.ok(eof instanceof UnexpectedEofError);
    }),
  );

  test(
    "unwrap hands over { readable, writable }; the readable continues after the buffered bytes",
    withStreams(async ({ conn, peer, remote }) => {
      await peer.send(remote, { text: "hello " });
      await conn.peek();
      const { buffered, native } = conn.unwrap();
      const { readable, writable } = native;
      await peer.send(remote, { text: "world" });
      const rest: Uint8Array[] = [];
      const reader = readable.getReader();
      for (let i = 0; i < 100 && text(concat([buffered, ...rest])) !== "hello world"; i++) {
        const { done, value } = await reader.read();
        if (done) break;
        rest.push(value);
      }
      assert.equal(text(concat([buffered, ...rest])), "hello world");
      const writer = writable.getWriter();
      await writer.write(new TextEncoder().encode("bye"));
      assert.equal(text((await peer.recv(remote, { count: 3 })).data), "bye");
      await reader.cancel();
      await writer.abort();
    }),
  );

  test(
    "idleTimeout: a silent peer is reported as idle and the streams are closed",
    withStreams(async ({ conn, peer, remote }) => {
      const info = await within(3000, conn.ended, "idle");
      assert.equal(info.reason, "idle");
      assert.ok((await rejection(conn.read())) instanceof IdleTimeoutError);
      await within(3000, conn.closed, "closed after idle");
      const seen = await peer.recv(remote, { timeoutMs: 3000 });
      assert.ok(seen.end === "eof" || seen.end === "reset", `the peer sees the close, got ${seen.end}`);
    }, { idleTimeout: 300 }),
  );

  test(
    "backpressure: a reader that stops makes the peer stall; nothing is lost",
    withStreams(async ({ conn, peer, remote }) => {
      const total = 32 << 20;
      const sending = peer.send(remote, { size: total, then: "fin" });
      await sleep(500);
      const sentWhilePaused = await peer.sentSoFar(remote);
      assert.ok(sentWhilePaused < total / 2, `the peer should stall, but sent ${sentWhilePaused} of ${total} bytes`);
      assert.ok(conn.buffered <= 16384 + MAX_CHUNK, `at most highWaterMark and one chunk held, got ${conn.buffered}`);
      const received = await collect(conn);
      assert.equal(sha256(received), (await sending).sha256);
    }, { highWaterMark: 16384 }),
    { timeout: 30_000 },
  );

  test("streams.destroy drops the connection first, at reset() and at every end hangup gives it; its error is ignored", async () => {
    const run = async (end: (conn: Conn<StreamNative>) => void, options: ConnOptions, fails = false): Promise<string[]> => {
      const events: string[] = [];
      const conn = fromStreams({
        readable: new ReadableStream<Uint8Array>({ cancel: () => void events.push("readable cancelled") }),
        writable: new WritableStream<Uint8Array>({ abort: () => void events.push("writable aborted") }),
        destroy: () => {
          events.push("destroy");
          if (fails) throw new Error("already gone");
        },
      }, options);
      end(conn);
      await within(3000, conn.closed, "closed");
      await sleep(20);
      return events;
    };
    const expected = ["destroy", "writable aborted", "readable cancelled"];
    assert.deepEqual(await run((conn) => conn.reset(), {}), expected);
    assert.deepEqual(await run(() => {}, { idleTimeout: 100 }), expected);
    assert.deepEqual(await run(() => {}, { signal: AbortSignal.timeout(100) }), expected);
    assert.deepEqual(await run((conn) => conn.reset(), {}, true), expected, "a destroy that throws still ends in the abort");
  });

  test("bad arguments: TypeError that names the stream", async () => {
    const notStreams = [undefined, {}, { readable: {}, writable: new WritableStream() }, { readable: new ReadableStream(), writable: 1 }];
    for (const bad of notStreams) {
      const err = (() => {
        try {
          fromStreams(bad as never);
        } catch (e) {
          return e;
        }
      })();
      assert.ok(err instanceof TypeError, `fromStreams(${JSON.stringify(bad)}) should throw a TypeError`);
      assert.match(err.message, /streams/);
    }
    const readable = new ReadableStream<Uint8Array>();
    readable.getReader();
    assert.throws(() => fromStreams({ readable, writable: new WritableStream() }), /streams.readable is locked/);
  });
});
