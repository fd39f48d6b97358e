/** SPEC semantics 10, 11 and 13: half-close, write failures, local close, reset. */
import assert from "node:assert/strict";
import { BrokenPipeError, ConnectionResetError, SocketClosedError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, rejection, SIDES, text, within, withPair } from "../support/fixtures.ts";
import { capabilities } from "../support/runtime.ts";

for (const side of SIDES) {
  describe(`writing (hangup as ${side})`, () => {
    test(
      "after the peer's FIN, write() still works and the peer receives exactly the reply",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "request", then: "fin" });
        assert.equal(text(await collect(conn)), "request");
        await conn.write("reply");
        await conn.close();
        const seen = await peer.recv(remote);
        assert.equal(text(seen.data), "reply", "no extra byte (the EOF check writes nothing on the wire)");
        assert.equal(seen.end, "eof");
      }),
    );

    test(
      "closeWrite() sends FIN and the peer's later bytes are still read",
      withPair(side, async ({ conn, peer, remote }) => {
        await conn.write("question");
        await conn.closeWrite();
        const seen = await peer.recv(remote);
        assert.equal(text(seen.data), "question");
        assert.equal(seen.end, "eof");
        await peer.send(remote, { text: "answer", then: "fin" });
        assert.equal(text(await collect(conn)), "answer");
        assert.deepEqual(await conn.ended, { reason: "eof" });
        const err = await rejection(conn.write("more"));
        assert.ok(err instanceof SocketClosedError);
        await within(5000, conn.closed, "released once both directions are done");
      }),
    );

    test(
      "writes to a peer that closed reject with BrokenPipeError or ConnectionResetError, never unhandled",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.close(remote);
        await conn.ended;
        let failure: unknown;
        for (let attempt = 0; attempt < 50 && failure === undefined; attempt++) {
          await conn.write(new Uint8Array(1024)).catch((err: unknown) => (failure = err));
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.ok(failure instanceof BrokenPipeError || failure instanceof ConnectionResetError, `got ${String(failure)}`);
        assert.match((failure as Error).message, /^Cannot write: /);
        const again = await rejection(conn.write("again"));
        assert.ok(again instanceof BrokenPipeError || again instanceof ConnectionResetError, `got ${String(again)}`);
      }),
    );

    test(
      "close() flushes pending writes, is idempotent, and releases the socket",
      withPair(side, async ({ conn, peer, remote }) => {
        const big = new Uint8Array(4 << 20).fill(7);
        const writing = conn.write(big);
        const closing = Promise.all([conn.close(), conn.close()]);
        const seen = await peer.recv(remote, { timeoutMs: 20_000 });
        await writing;
        await closing;
        assert.equal(seen.length, big.length);
        assert.equal(seen.end, "eof");
        await within(5000, conn.closed, "closed");
      }),
    );

    test(
      "reset() is abortive: the peer sees a reset where the runtime can send one",
      withPair(side, async ({ conn, peer, remote }) => {
        conn.reset();
        conn.reset();
        assert.deepEqual(await conn.ended, { reason: "local" });
        await within(5000, conn.closed, "closed after reset");
        const seen = await peer.recv(remote);
        // Where the runtime has no abortive close (Deno), reset() closes with FIN (README: "What each runtime can do").
        assert.equal(seen.end, capabilities.reset ? "reset" : "eof");
      }),
    );

    test(
      "a write after our own close rejects with SocketClosedError",
      withPair(side, async ({ conn }) => {
        await conn.close();
        const err = await rejection(conn.write("late"));
        assert.ok(err instanceof SocketClosedError);
        assert.equal(err.code, "ERR_SOCKET_CLOSED");
        assert.match(err.message, /^Cannot write: /);
      }),
    );
  });
}
