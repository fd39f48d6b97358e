/** SPEC semantics 1–4: how a connection ends, and how hangup reports it. */
import assert from "node:assert/strict";
import { ConnectionResetError, SocketClosedError, SocketError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, concat, openPair, rejection, SIDES, sleep, text, within, withPair } from "../support/fixtures.ts";
import { sha256, withPeer } from "../support/peer.ts";
import { hangup } from "../support/runtime.ts";

for (const side of SIDES) {
  describe(`ending (hangup as ${side})`, () => {
    test(
      "EOF ends iteration after every byte, in order; read() then returns null, forever",
      withPair(side, async ({ conn, peer, remote }) => {
        const [sent, received] = await Promise.all([peer.send(remote, { size: 1 << 20, then: "fin" }), collect(conn)]);
        assert.equal(received.length, 1 << 20);
        assert.equal(sha256(received), sent.sha256);
        assert.equal(await conn.read(), null);
        assert.equal(await conn.read(), null);
        assert.deepEqual(await conn.ended, { reason: "eof" });
      }),
    );

    test(
      "a reset throws ConnectionResetError after the bytes that arrived, and stays thrown",
      withPair(side, async ({ conn, peer, remote }) => {
        const sent = await peer.send(remote, { size: 1000, then: "rst" });
        const chunks: Uint8Array[] = [];
        const err = await rejection(collect(conn, chunks));
        assert.ok(err instanceof ConnectionResetError, `expected ConnectionResetError, got ${String(err)}`);
        assert.equal(err.code, "ECONNRESET");
        assert.equal(err.name, "ConnectionResetError");
        assert.match(err.message, /^Cannot read: connection reset by peer/);
        assert.ok(err.cause !== undefined, "the runtime's error is kept as cause");
        assert.equal(sha256(...chunks), sent.sha256, "the 1000 bytes before the reset are all yielded");
        assert.equal(await rejection(conn.read()), err, "later reads throw the same error");
        assert.equal(await rejection(conn.peek()), err);
        assert.equal(await rejection(conn.readExactly(0)), err, "even a read of zero bytes");
        assert.equal(await rejection(conn.readUntil("\n")), err);
        const ended = await conn.ended;
        assert.equal(ended.reason, "reset");
        assert.equal(ended.error, err);
      }),
    );

    test(
      "ended settles at FIN without any read, and the unread bytes stay readable",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "unread bytes", then: "fin" });
        assert.deepEqual(await within(5000, conn.ended, "ended after FIN"), { reason: "eof" });
        assert.ok(conn.signal.aborted);
        assert.ok(conn.signal.reason instanceof SocketError);
        assert.equal((conn.signal.reason as SocketError).code, "ERR_EOF");
        assert.equal(text(await collect(conn)), "unread bytes");
      }),
    );

    test(
      "a FIN behind more than highWaterMark unread bytes: ended learns of it once reading reaches it, after every byte",
      withPair(side, async ({ conn, peer, remote }) => {
        // TCP delivers the FIN after the bytes, and hangup does not read past the mark: memory
        // stays bounded, and the FIN waits in the kernel until the application reads (README).
        const sent = await peer.send(remote, { size: 400_000, then: "fin" });
        const settled = await Promise.race([conn.ended.then(() => true), sleep(500).then(() => false)]);
        assert.equal(settled, false, "ended waits behind the unread bytes");
        assert.ok(conn.buffered <= 65536 * 2, `at most highWaterMark and a chunk held, got ${conn.buffered}`);
        const received = await collect(conn);
        assert.equal(sha256(received), sent.sha256, "every byte, then the end");
        assert.deepEqual(await conn.ended, { reason: "eof" });
      }),
    );

    test(
      "ended settles at RST without any read; the bytes stay readable, then the reset throws",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "before reset", then: "rst" });
        const ended = await within(5000, conn.ended, "ended after RST");
        assert.equal(ended.reason, "reset");
        assert.ok(ended.error instanceof ConnectionResetError);
        assert.equal(conn.signal.reason, ended.error, "signal's reason is ended's error");
        const chunks: Uint8Array[] = [];
        assert.equal(await rejection(collect(conn, chunks)), ended.error);
        assert.equal(text(concat(chunks)), "before reset");
      }),
    );

    test(
      "a peer that resets while we echo it and it reads nothing: ConnectionResetError and ended reset, never a clean end",
      withPair(side, async ({ conn, peer, remote }) => {
        // Our replies fill the buffers, so our writes wait and reading pauses above highWaterMark;
        // then the RST, which a write may be the first to hear of (on Bun the only one).
        await peer.send(remote, { text: "y\n".repeat(200_000) });
        const echoing = rejection((async () => {
          for await (const line of conn.lines()) await conn.write(`echo: ${line}\n`);
        })());
        await sleep(200);
        await peer.rst(remote);
        const err = await within(5000, echoing, "the echo loop ends at the reset");
        assert.ok(err instanceof ConnectionResetError, `expected ConnectionResetError, got ${String(err)}`);
        const ended = await within(5000, conn.ended, "ended after the reset");
        assert.equal(ended.reason, "reset");
        // Whatever is still buffered stays readable, and then the reset, never an end.
        assert.ok((await rejection(collect(conn))) instanceof ConnectionResetError);
      }),
    );

    test(
      "a FIN while our write waits for a peer that does not read: ended says eof and the loop ends at once, the write still waiting",
      withPair(side, async ({ conn, peer, remote }) => {
        const writing = conn.write(new Uint8Array(16 << 20)).then(() => "written", (err: unknown) => err);
        await sleep(200); // the buffers are full: the write waits for the peer to read
        await peer.send(remote, { text: "last request", then: "fin" });
        assert.deepEqual(await within(2000, conn.ended, "ended at the FIN"), { reason: "eof" });
        assert.equal(text(await within(2000, collect(conn), "the loop ends at the FIN")), "last request");
        assert.equal(await Promise.race([writing, sleep(100).then(() => "waiting")]), "waiting");
      }),
    );

    test(
      "bytes then an RST while our write waits for a peer that does not read: ConnectionResetError in 10 of 10 trials, never a clean end",
      () =>
        withPeer(async (peer) => {
          const outcomes: string[] = [];
          for (let trial = 0; trial < 10; trial++) {
            const { conn, remote } = await openPair(peer, side);
            try {
              void conn.write(new Uint8Array(16 << 20)).catch(() => {});
              await sleep(100);
              await peer.send(remote, { size: 1000, then: "rst" });
              const outcome = await within(5000, collect(conn).then(() => "eof", (err: unknown) => err), "the loop ends");
              outcomes.push(outcome instanceof ConnectionResetError ? "reset" : String(outcome));
            } finally {
              conn.reset();
              await conn.closed;
            }
          }
          assert.deepEqual(outcomes, Array(10).fill("reset"));
        }),
    );

    test(
      "closeWrite() after a reset the runtime has not read yet (reading paused): the reset, never a clean end",
      withPair(side, async ({ conn, peer, remote }) => {
        // 1 MiB unread holds reading paused at the mark; the RST then waits in the kernel, where
        // Node 20 and 22 lose it once our side is shut, unless closeWrite() asks first.
        await peer.send(remote, { size: 1 << 20 });
        await peer.rst(remote);
        await sleep(300);
        const shut = await conn.closeWrite().then(() => "sent", (err: unknown) => err);
        if (shut !== "sent") {
          assert.ok(shut instanceof ConnectionResetError, `closeWrite(): expected ConnectionResetError, got ${String(shut)}`);
        }
        const err = await within(5000, rejection(collect(conn)), "the reads end");
        assert.ok(err instanceof ConnectionResetError, `expected ConnectionResetError, got ${String(err)}`);
        assert.equal((await conn.ended).reason, "reset");
      }, { highWaterMark: 16384 }),
    );

    test(
      "our own close settles ended as local and aborts signal with SocketClosedError",
      withPair(side, async ({ conn, peer, remote }) => {
        const pending = rejection(conn.read());
        await conn.close();
        const err = await pending;
        assert.ok(err instanceof SocketClosedError, `pending read: expected SocketClosedError, got ${String(err)}`);
        assert.deepEqual(await conn.ended, { reason: "local" });
        assert.ok(conn.signal.reason instanceof SocketClosedError);
        await within(5000, conn.closed, "closed after close()");
        const seen = await peer.recv(remote);
        assert.equal(seen.end, "eof", "the peer sees a FIN");
        assert.ok((await rejection(conn.write("late"))) instanceof SocketClosedError);
      }),
    );

    test(
      "ended settles when the peer's process dies (kernel closes its socket)",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "last words" });
        await peer.close(remote);
        assert.deepEqual(await within(5000, conn.ended, "ended after the peer closed"), { reason: "eof" });
        assert.equal(text(await collect(conn)), "last words");
      }),
    );
  });
}

describe("a connection still in the accept queue", () => {
  test("the peer's bytes then its RST, before the accept: the bytes, then ConnectionResetError", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const remote = await peer.connect({ port: listener.addr.port });
        await peer.send(remote, { text: "hello" });
        await peer.rst(remote);
        await sleep(100); // both arrive while nobody has accepted the connection
        const conn = (await listener.accept())!;
        const chunks: Uint8Array[] = [];
        const failure = await rejection(collect(conn, chunks));
        assert.equal(text(concat(chunks)), "hello");
        assert.ok(failure instanceof ConnectionResetError, `got ${String(failure)}`);
      } finally {
        await listener.close();
      }
    }));
});
