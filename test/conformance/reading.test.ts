/** SPEC semantics 5, 6 and 12: loops, the single-reader rule, backpressure, aborts. */
import assert from "node:assert/strict";
import { describe, test } from "../support/harness.ts";
import { assertPlainChunk, collect, concat, MAX_CHUNK, rejection, SIDES, sleep, text, within, withPair } from "../support/fixtures.ts";
import { sha256 } from "../support/peer.ts";

for (const side of SIDES) {
  describe(`reading (hangup as ${side})`, () => {
    test(
      "breaking out of a loop keeps the connection and its buffered bytes",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "first" });
        for await (const chunk of conn) {
          assert.equal(text(chunk), "first");
          break;
        }
        await peer.send(remote, { text: "second", then: "fin" });
        assert.equal(text(await collect(conn)), "second");
      }),
    );

    test(
      "chunks already read keep their bytes while later reads come in, small and large",
      withPair(side, async ({ conn, peer, remote }) => {
        // Deno's adapter reuses its read buffer for small reads: a kept chunk must be a copy.
        const pieces = ["a".repeat(100), "b".repeat(100), "c".repeat(40_000), "d".repeat(100), "e".repeat(40_000), "f".repeat(10)];
        const kept: Uint8Array[] = [];
        for (const piece of pieces) {
          await peer.send(remote, { text: piece });
          for (let got = 0; got < piece.length;) {
            const chunk = await conn.read();
            assert.ok(chunk !== null, "EOF before the piece arrived");
            kept.push(chunk);
            got += chunk.length;
          }
        }
        assert.equal(text(concat(kept)), pieces.join(""));
      }),
    );

    test(
      "chunks are plain Uint8Arrays on every runtime: slice() copies, never a Buffer that shares memory",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "plain", then: "fin" });
        assertPlainChunk(await conn.read(), "plain");
      }),
    );

    test(
      "a second concurrent read rejects with a TypeError that says so; the first still succeeds",
      withPair(side, async ({ conn, peer, remote }) => {
        const first = conn.read();
        const err = await rejection(conn.read());
        assert.ok(err instanceof TypeError);
        assert.match(err.message, /another read is already pending/);
        await peer.send(remote, { text: "x" });
        assert.equal(text(await first), "x");
      }),
    );

    test(
      "backpressure: a reader that stops makes the peer stall; nothing is lost",
      withPair(side, async ({ conn, peer, remote }) => {
        const total = 64 << 20;
        const sending = peer.send(remote, { size: total, then: "fin" });
        await sleep(500);
        const sentWhilePaused = await peer.sentSoFar(remote);
        assert.ok(
          sentWhilePaused < total / 2,
          `the peer should stall, but sent ${sentWhilePaused} of ${total} bytes while we did not read`,
        );
        assert.ok(conn.buffered <= 16384 + MAX_CHUNK, `at most highWaterMark and one chunk held, got ${conn.buffered}`);
        const received = await collect(conn);
        const sent = await sending;
        assert.equal(received.length, total);
        assert.equal(sha256(received), sent.sha256);
      }, { highWaterMark: 16384 }),
      { timeout: 60_000 },
    );

    test(
      "an aborted read rejects with signal.reason unchanged; the connection stays usable",
      withPair(side, async ({ conn, peer, remote }) => {
        const controller = new AbortController();
        const reason = new Error("stop waiting");
        const pending = rejection(conn.read({ signal: controller.signal }));
        controller.abort(reason);
        assert.equal(await pending, reason);
        const already = await rejection(conn.read({ signal: AbortSignal.abort(reason) }));
        assert.equal(already, reason);
        await peer.send(remote, { text: "still here", then: "fin" });
        assert.equal(text(await collect(conn)), "still here");
      }),
    );

    test("aborting the connection's signal closes it: pending reads reject with the reason, ended is aborted", async () => {
      const controller = new AbortController();
      await withPair(side, async ({ conn, peer, remote }) => {
        const reason = new Error("shutting down");
        const pending = rejection(conn.read());
        controller.abort(reason);
        assert.equal(await pending, reason);
        assert.equal((await conn.ended).reason, "aborted");
        assert.equal(conn.signal.reason, reason);
        await within(5000, conn.closed, "closed after abort");
        assert.equal(await rejection(conn.write("x")), reason);
        const seen = await peer.recv(remote);
        assert.ok(seen.end === "eof" || seen.end === "reset", `the peer sees the close, got ${seen.end}`);
      }, { signal: controller.signal })();
    });

    test("read to the peer's FIN and idle, the connection still obeys its signal: a later write or read rejects with the reason and closes it", async () => {
      const controller = new AbortController();
      await withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "all of it", then: "fin" });
        assert.equal(text(await collect(conn)), "all of it");
        await conn.write("reply");
        assert.equal(text((await peer.recv(remote, { count: 5 })).data), "reply");
        const reason = new Error("shutting down");
        controller.abort(reason);
        assert.equal(await rejection(conn.write("late")), reason);
        assert.equal(await rejection(conn.read()), reason);
        assert.equal((await conn.ended).reason, "eof", "the end already reported stays");
        await within(5000, conn.closed, "closed after abort");
        const seen = await peer.recv(remote);
        assert.ok(seen.end === "eof" || seen.end === "reset", `the peer sees the close, got ${seen.end}`);
        assert.equal(text(seen.data), "", "the late write sent nothing");
      }, { signal: controller.signal })();
    });

    test(
      "bad read arguments throw TypeError or RangeError naming the argument",
      withPair(side, async ({ conn }) => {
        const badSignal = await rejection(conn.read({ signal: "nope" as never }));
        assert.ok(badSignal instanceof TypeError);
        assert.match(badSignal.message, /signal/);
        const badWrite = await rejection(conn.write(42 as never));
        assert.ok(badWrite instanceof TypeError);
        assert.match(badWrite.message, /data must be a Uint8Array or a string/);
      }),
    );

    test(
      "a misspelt option of a read is refused, naming it, never silently ignored (maxBytes is a memory bound)",
      withPair(side, async ({ conn, peer, remote }) => {
        const refused = async (operation: () => unknown, message: string): Promise<void> => {
          let err: unknown;
          try {
            await operation();
          } catch (caught) {
            err = caught;
          }
          assert.ok(err instanceof TypeError, `expected TypeError, got ${String(err)}`);
          assert.equal(err.message, message);
        };
        const typo = { maxbytes: 4 } as never;
        await refused(() => conn.readUntil("\n", typo), "options.maxbytes is not an option of readUntil: did you mean maxBytes?");
        await refused(() => conn.lines(typo), "options.maxbytes is not an option of lines: did you mean maxBytes?");
        await refused(() => conn.decode(() => ({ need: 1 }), typo), "options.maxbytes is not an option of decode: did you mean maxBytes?");
        await refused(() => conn.read({ maxBytes: 4 } as never), "options.maxBytes is not an option of read (it has signal)");
        await refused(() => conn.peek({ byte: 2 } as never), "options.byte is not an option of peek (it has signal, bytes)");
        await refused(
          () => conn.readExactly(1, { singal: undefined, sigal: 1 } as never),
          "options.sigal is not an option of readExactly (it has signal)",
        );
        await refused(() => conn.write("x", { timeout: 5 } as never), "options.timeout is not an option of write (it has signal)");
        // Nothing was consumed by the refused calls: the connection reads on.
        await peer.send(remote, { text: "still here\n" });
        assert.equal(text((await conn.readUntil("\n", { maxBytes: 64, signal: undefined }))!), "still here\n");
      }),
    );
  });
}
