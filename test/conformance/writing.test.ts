/** SPEC semantics 10, 11 and 13: half-close, write failures, local close, reset. */
import assert from "node:assert/strict";
import { BrokenPipeError, ConnectionResetError, SocketClosedError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, rejection, SIDES, sleep, text, within, withPair } from "../support/fixtures.ts";
import { assertReceivedThenEnd, patterned, sha256 } from "../support/peer.ts";
import { holdsTcpSocket } from "../support/storm.ts";
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
      "close() while the peer still sends: every written byte reaches the peer before the FIN",
      withPair(side, async ({ conn, peer, remote }) => {
        const big = patterned(16 << 20);
        const writing = conn.write(big);
        const closing = conn.close();
        // Arrives while close() flushes: hangup reads on (and drops it), or the peer would be stuck.
        await peer.send(remote, { text: "unread" });
        const seen = await peer.recv(remote, { timeoutMs: 20_000 });
        await writing;
        await within(10_000, closing, "close() settled");
        assertReceivedThenEnd(seen, big);
      }),
    );

    test(
      "close() with the peer's bytes left unread: every written byte still reaches the peer, then the FIN",
      withPair(side, async ({ conn, peer, remote }) => {
        // Never read here: more than the high-water mark, so some stay in the kernel. Closing a
        // socket with unread bytes makes the kernel send an RST, which destroys what it still holds of ours.
        const unread = peer.send(remote, { size: 8 << 20 });
        await sleep(200);
        const big = patterned(8 << 20);
        const writing = conn.write(big);
        const closing = conn.close();
        const seen = await peer.recv(remote, { timeoutMs: 20_000 });
        await writing;
        await within(10_000, closing, "close() settled");
        assertReceivedThenEnd(seen, big);
        const drained = await unread;
        assert.equal(drained.sendError, undefined, "hangup read (and dropped) all the peer sent: no RST met it");
      }),
    );

    test(
      "close() and then the peer speaks while it still reads our bytes: every byte reaches it, then the FIN",
      withPair(side, async ({ conn, peer, remote }) => {
        const big = patterned(16 << 20);
        void conn.write(big);
        const closing = conn.close();
        // By then close() has flushed into the kernel and sent the FIN; the kernel answers bytes
        // that reach a closed socket with an RST, so hangup reads on until the peer's FIN (a linger).
        const seen = await peer.recv(remote, { timeoutMs: 20_000, say: "bye", sayAfter: 15 << 20 });
        await within(10_000, closing, "close() settled");
        assertReceivedThenEnd(seen, big);
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
      "closeWrite() while writes are still flushing, then the peer's FIN: every byte still goes, then our FIN",
      withPair(
        side,
        async ({ conn, peer, remote }) => {
          // 8 MiB the peer does not read at first: the flush is still going when its FIN comes.
          const data = patterned(8 << 20);
          const writes = Array.from({ length: 32 }, (_, i) => conn.write(data.subarray(i << 18, (i + 1) << 18)));
          const shut = conn.closeWrite();
          await sleep(200);
          await peer.fin(remote);
          await sleep(200);
          const seen = await peer.recv(remote, { timeoutMs: 20_000 });
          assert.equal(seen.length, data.length, "every byte reached the peer");
          assert.equal(seen.sha256, sha256(data));
          assert.equal(seen.end, "eof");
          await within(5000, Promise.all([...writes, shut]), "every write and closeWrite() resolved");
          assert.deepEqual(await conn.ended, { reason: "eof" });
          await within(5000, conn.closed, "released once both directions are done");
        },
        {},
        { rcvbuf: 4096 },
      ),
      { timeout: 30_000 },
    );

    test(
      "with a short writeTimeout (small pieces), writes issued without awaiting each still all go, in order",
      withPair(
        side,
        async ({ conn, peer, remote }) => {
          // Under 4 s the pieces are under 64 KiB: joined writes must never be cut as one write's pieces.
          const data = patterned(6 * 17_000 + 5);
          const sizes = [17_000, 17_000, 5, 17_000, 17_000, 17_000, 17_000];
          const writes: Promise<void>[] = [];
          for (let at = 0, i = 0; i < sizes.length; at += sizes[i]!, i++) writes.push(conn.write(data.subarray(at, at + sizes[i]!)));
          await within(5000, Promise.all(writes), "every write resolved");
          await conn.closeWrite();
          const seen = await peer.recv(remote, { timeoutMs: 10_000 });
          assert.equal(seen.length, data.length, "every byte reached the peer");
          assert.equal(seen.sha256, sha256(data), "in order");
        },
        { writeTimeout: 1000 },
      ),
    );

    test(
      "a closeWrite() or a write nobody awaits is never an unhandled rejection, even when it fails",
      withPair(
        side,
        async ({ conn, peer, remote }) => {
          void conn.write("x", { signal: AbortSignal.abort(new Error("aborted before it was written")) });
          void conn.write(new Uint8Array(16 << 20));
          void conn.closeWrite();
          await sleep(100);
          await peer.rst(remote);
          await within(5000, conn.ended, "ended after the peer's RST");
          // An unhandled rejection would surface in this test, during this wait.
          await sleep(200);
          const err = await rejection(conn.closeWrite());
          // Deno's reset closes with FIN: a write meets the closed socket instead (README).
          assert.ok(err instanceof ConnectionResetError || err instanceof BrokenPipeError, `got ${String(err)}`);
        },
        {},
        { rcvbuf: 4096 },
      ),
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

// One side is enough: the linger is the core's and the adapter's, the same for a connection accepted or made.
describe("the linger after close()", () => {
  test(
    "is bounded: a peer that floods and never hangs up holds the socket about 2 s at most",
    withPair("server", async ({ conn, peer, remote }) => {
      const flood = peer.send(remote, { fill: 0x61, size: 2 ** 40, chunk: 1 << 20 });
      await conn.write("a reply the linger protects");
      await sleep(100);
      const ports = [conn.localAddr, conn.remoteAddr].map((addr) => (addr as { port: number }).port) as [number, number];
      assert.ok(holdsTcpSocket(...ports), "the connection's socket is open here");
      const started = Date.now();
      await within(1000, conn.close(), "close() does not wait for the linger");
      await within(1000, conn.closed, "closed: nothing more for the user");
      for (let i = 0; i < 100 && holdsTcpSocket(...ports); i++) await sleep(50);
      assert.ok(!holdsTcpSocket(...ports), "the socket was released");
      const lingered = Date.now() - started;
      assert.ok(lingered >= 1500 && lingered < 4500, `lingered ${lingered} ms, about 2000 expected`);
      const sent = await flood;
      assert.ok(sent.sendError !== undefined, `the flood ended with an error at the peer: ${JSON.stringify(sent)}`);
    }),
  );
});
