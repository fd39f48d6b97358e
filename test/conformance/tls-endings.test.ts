/** SPEC "TLS" T1, T2, T5: the four endings told apart after every byte, conn.tls, close_notify on close. */
import assert from "node:assert/strict";
import { BrokenPipeError, type Conn, ConnectionResetError, SocketError, TlsTruncatedError, WriteTimeoutError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { assertPlainChunk, collect, concat, rejection, type Side, SIDES, sleep, text, within } from "../support/fixtures.ts";
import { assertReceivedThenEnd, patterned, sha256, withPeer } from "../support/peer.ts";
import { runtime } from "../support/runtime.ts";
import { holdsTcpSocket } from "../support/storm.ts";
import { reclaimed } from "../support/gc.ts";
import { CERTS, hasTls, openTlsPair, tlsAdapter, tlsOptionsFor, type TlsPair } from "../support/tls.ts";
import { drain, failWithoutTls } from "../support/tls-cases.ts";

type PairOptions = Parameters<typeof openTlsPair>[2];

function withTlsPair(side: Side, body: (pair: TlsPair) => Promise<void>, options: PairOptions = {}): () => Promise<void> {
  return () =>
    withPeer(async (peer) => {
      const pair = await openTlsPair(peer, side, options);
      try {
        await body(pair);
      } finally {
        pair.conn.reset();
        await pair.conn.closed;
      }
    });
}

/** Reads nothing for a second while the peer sends; the most hangup buffered meanwhile. */
async function heldBack(conn: Conn): Promise<number> {
  let peak = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    peak = Math.max(peak, conn.buffered);
  }
  return peak;
}

/** The DER bytes of a PEM certificate. */
function derOf(pem: string): Uint8Array {
  const base64 = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

if (!hasTls) failWithoutTls();
else {
  for (const side of SIDES) {
    describe(`tls endings (hangup as ${side})`, () => {
      test(
        "close_notify then FIN: every byte, then eof; conn.tls says TLS 1.3",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          assert.equal(conn.tls?.protocol, "TLSv1.3");
          const [sent, { bytes, outcome }] = await Promise.all([peer.send(remote, { size: 300_000, then: "close_notify" }), drain(conn)]);
          assert.equal(outcome, "eof");
          assert.equal(bytes.length, 300_000);
          assert.equal(sha256(bytes), sent.sha256);
          assert.deepEqual(await conn.ended, { reason: "eof" });
          assert.equal(await conn.read(), null);
        }),
      );

      test(
        "FIN without close_notify: every byte, then TlsTruncatedError; ended says truncated",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          const [sent, { bytes, outcome }] = await Promise.all([peer.send(remote, { size: 300_000, then: "fin" }), drain(conn)]);
          assert.equal(sha256(bytes), sent.sha256, "every byte before the truncation is yielded");
          assert.ok(outcome instanceof TlsTruncatedError, `expected TlsTruncatedError, got ${String(outcome)}`);
          assert.equal(outcome.code, "ERR_TLS_TRUNCATED");
          assert.equal(outcome.name, "TlsTruncatedError");
          const ended = await conn.ended;
          assert.equal(ended.reason, "truncated");
          assert.equal(ended.error, outcome);
          assert.equal(await rejection(conn.read()), outcome, "later reads throw the same error");
          // The stream's end is not authenticated: writes are refused too, saying so.
          const refused = await rejection(conn.write("more"));
          assert.ok(refused instanceof TlsTruncatedError, `got ${String(refused)}`);
          assert.equal(refused.message, "Cannot write: the TLS peer closed without close_notify");
        }),
      );

      test(
        "closeWrite() as the peer's FIN without close_notify arrives always settles, with allowTruncation or not (Node 20 could leave it pending)",
        () =>
          withPeer(async (peer) => {
            for (let trial = 0; trial < 30; trial++) {
              const allowTruncation = trial % 2 === 1;
              const { conn, remote } = await openTlsPair(peer, side, { tls: { allowTruncation } });
              try {
                // Not awaited: the FIN comes while closeWrite() is under way.
                const sent = peer.send(remote, { text: "hello\n", then: "fin" });
                assert.equal(text((await conn.readUntil("\n"))!), "hello\n");
                const shut = conn.closeWrite().then(() => "resolved", (err: unknown) => err);
                await sent;
                if (allowTruncation) assert.equal(await conn.read(), null, `trial ${trial}: a clean end`);
                else {
                  const read = await rejection(conn.read());
                  assert.ok(read instanceof TlsTruncatedError, `trial ${trial}: got ${String(read)}`);
                }
                assert.equal((await conn.ended).reason, "truncated", `trial ${trial}`);
                const outcome = await within(3000, shut, `trial ${trial}: closeWrite() settles`);
                assert.ok(outcome === "resolved" || outcome instanceof SocketError, `trial ${trial}: got ${String(outcome)}`);
              } finally {
                conn.reset();
                await conn.closed;
              }
            }
          }),
        { timeout: 60_000 },
      );

      test(
        "a write under way as the peer leaves without close_notify (its kernel answers the write with an RST): ended has settled, truncated, when the write rejects (Node said local once the handler closed on it; Bun may say reset, docs/runtimes.md)",
        () =>
          withPeer(async (peer) => {
            for (let trial = 0; trial < 10; trial++) {
              let endedFirst: string | undefined;
              const { conn, remote } = await openTlsPair(peer, side);
              try {
                // Read by the peer, and its session tickets with it: it then closes with a FIN, not an RST.
                await conn.write("hello\n");
                await peer.recv(remote, { count: 6, timeoutMs: 5000 });
                await peer.send(remote, { text: "GET\n", then: "close" });
                assert.equal(text(await conn.readUntil("\n")), "GET\n");
                void conn.ended.then((info) => (endedFirst = info.reason));
                const err = await rejection(conn.write(patterned(8 << 20)));
                assert.ok(err instanceof SocketError, `trial ${trial}: got ${String(err)}`);
                // Bun cannot tell a FIN it had not read yet from the reset that followed it (its write took the kernel's error).
                const endings = runtime === "bun" ? ["truncated", "reset"] : ["truncated"];
                assert.ok(
                  endings.includes(endedFirst!),
                  `trial ${trial}: ended was ${endedFirst} when the write rejected with ${err.name}`,
                );
              } finally {
                await conn.close();
              }
              assert.equal((await conn.ended).reason, endedFirst, `trial ${trial}`);
            }
          }),
        { timeout: 60_000 },
      );

      test(
        "allowTruncation: the same FIN ends the loop cleanly and ended still says truncated",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          const [sent, { bytes, outcome }] = await Promise.all([peer.send(remote, { size: 100_000, then: "fin" }), drain(conn)]);
          assert.equal(outcome, "eof");
          assert.equal(sha256(bytes), sent.sha256);
          assert.deepEqual(await conn.ended, { reason: "truncated" });
        }, { tls: { allowTruncation: true } }),
      );

      test(
        "allowTruncation: after the peer's FIN we still answer, and close() sends close_notify before our FIN (Bun sent a bare FIN)",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          await peer.send(remote, { text: "last words", then: "fin" });
          assert.equal(text(await collect(conn)), "last words");
          assert.deepEqual(await conn.ended, { reason: "truncated" });
          await conn.write("answer");
          await conn.close();
          const seen = await peer.recv(remote, { timeoutMs: 5000 });
          assert.equal(text(seen.data), "answer");
          assert.equal(seen.end, "eof", "the peer meets our close_notify, then our FIN");
        }, { tls: { allowTruncation: true } }),
      );

      test(
        "RST: the bytes before it, then ConnectionResetError, never eof or truncated",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          const data = new Uint8Array(1000).map((_, i) => i % 251);
          await peer.send(remote, { data, then: "rst" });
          const { bytes, outcome } = await drain(conn);
          assert.ok(outcome instanceof ConnectionResetError, `expected ConnectionResetError, got ${String(outcome)}`);
          assert.equal(sha256(bytes), sha256(data), "the 1000 bytes before the reset are all yielded");
          const ended = await conn.ended;
          assert.equal(ended.reason, "reset");
          assert.equal(ended.error, outcome);
        }),
      );

      test(
        "connections the peer resets are released, not kept (Bun kept each one: a TLS socket, a TCP socket, three errors)",
        () =>
          withPeer(async (peer) => {
            const tracker = reclaimed();
            const count = 30;
            for (let i = 0; i < count; i++) {
              const { conn, remote } = await openTlsPair(peer, side);
              await peer.rst(remote);
              assert.ok((await rejection(collect(conn))) instanceof ConnectionResetError);
              await conn.closed;
              tracker.track(conn);
            }
            const released = await tracker.settle();
            assert.ok(released >= count - 2, `${released} of ${count} reset connections were released`);
          }),
        { timeout: 60_000 },
      );

      test(
        "a record that does not decrypt: the bytes before it, then a SocketError at once, never eof, truncated or a hang",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          // The peer's connection stays open: only the TLS layer can tell that the stream is broken.
          const data = patterned(50_000);
          await peer.send(remote, { data, then: "forged_record" });
          const { bytes, outcome } = await within(5000, drain(conn), "the TLS layer's error, without waiting for the peer to close");
          if (runtime === "deno") {
            // Fallback (docs/tls.md): Deno's TLS layer drops the plaintext of the records that came
            // in the same TCP read as the broken one. What it yields is still the start of the stream.
            assert.equal(sha256(bytes), sha256(data.subarray(0, bytes.length)), "what is yielded is the stream's start, unaltered");
          } else {
            assert.equal(sha256(bytes), sha256(data), "every byte before the forged record is yielded");
          }
          assert.ok(outcome instanceof SocketError, `expected a SocketError, got ${String(outcome)}`);
          assert.ok(!(outcome instanceof TlsTruncatedError), "a broken record is not a truncation");
          // The TLS library's code: OpenSSL's and BoringSSL's name the bad record; Deno's maps it loosely.
          assert.match(outcome.code, runtime === "deno" ? /^ERR_SSL_/ : /^ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC$/, outcome.code);
          assert.match(outcome.message, /^Cannot read: \S[^\n]*\S$/);
          assert.doesNotMatch(outcome.message, /\.c:\d+|error:[0-9a-f]{8}/i, "no file and line of the TLS library");
          const ended = await conn.ended;
          assert.equal(ended.reason, "error");
          assert.equal(ended.error, outcome);
        }),
      );

      test(
        "close_notify without FIN: eof at the close_notify; we can still write (not on Bun), then close",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          await peer.send(remote, { text: "bye" });
          await peer.closeNotify(remote, { fin: false });
          assert.equal(text(await within(5000, collect(conn), "eof at the close_notify")), "bye");
          assert.deepEqual(await conn.ended, { reason: "eof" });
          const reply = peer.recv(remote, { timeoutMs: 5000 });
          if (runtime === "bun") {
            // Fallback (README): Bun's TLS layer answers the close_notify itself and closes our write side.
            const err = await rejection(conn.write("still here"));
            assert.ok(err instanceof BrokenPipeError, `expected BrokenPipeError, got ${String(err)}`);
            await within(5000, conn.close(), "close after the write side closed");
            const seen = await reply;
            assert.equal(seen.length, 0);
            assert.equal(seen.end, "eof", "the peer saw our close_notify");
            return;
          }
          await conn.write("still here");
          await conn.close();
          const seen = await reply;
          assert.equal(text(seen.data), "still here");
          assert.equal(seen.end, "eof", "our close sent close_notify (the peer saw a clean TLS end, not a truncation)");
        }),
      );

      test(
        "writes in flight when the peer's close_notify comes settle: sent once it reads on (on Bun: BrokenPipeError, never a hang)",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          // 4 MiB in 1 KiB writes nobody awaits, to a peer that reads nothing yet and has a small receive
          // buffer (the kernel's autotuned buffers could hold 4 MiB): most wait in flight.
          const piece = new Uint8Array(1024).fill(7);
          const writes = Array.from({ length: 4096 }, () => conn.write(piece).then(() => "sent", (err: unknown) => err));
          await sleep(200);
          await peer.closeNotify(remote, { fin: false });
          assert.deepEqual(await within(5000, conn.ended, "eof at the close_notify"), { reason: "eof" });
          if (runtime === "bun") {
            // Fallback (README): Bun's TLS layer drops our write side at the close_notify. What it had
            // not taken was not sent (BrokenPipeError); what it had taken goes out as the peer reads on.
            const reading = peer.recv(remote, { timeoutMs: 10_000 });
            const outcomes = await within(10_000, Promise.all(writes), "every write settles");
            const failed = outcomes.filter((o) => o !== "sent");
            assert.ok(failed.length > 0, "some writes were still in flight");
            for (const err of failed) assert.ok(err instanceof BrokenPipeError, `expected BrokenPipeError, got ${String(err)}`);
            assert.ok(
              outcomes.slice(outcomes.indexOf(failed[0]!)).every((o) => o !== "sent"),
              "no write after a failed one is reported sent",
            );
            await within(5000, conn.close(), "close after the write side closed");
            const seen = await reading;
            assert.equal(seen.length, (outcomes.length - failed.length) * 1024, "the peer got exactly the writes reported sent, no more");
            return;
          }
          const seen = await peer.recv(remote, { count: 4 << 20, timeoutMs: 10_000 });
          assert.equal(seen.length, 4 << 20, "the peer reads every byte after its close_notify");
          assert.deepEqual(new Set(await within(5000, Promise.all(writes), "every write settles")), new Set(["sent"]));
          await conn.close();
        }, { peerRcvbuf: 16384 }),
      );

      test(
        "the peer's close_notify, then it closes its socket (an idle server's close): our writes settle, none hangs, and close() too",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          await peer.send(remote, { text: "bye", then: "close_notify" });
          await peer.close(remote);
          assert.equal(text(await within(5000, collect(conn), "eof at the close_notify")), "bye");
          // Written into a socket the peer closed: the first may still go (TCP answers it with an RST),
          // the next ones fail. Deno's TLS layer never called them back.
          const outcomes: unknown[] = [];
          for (let i = 0; i < 5; i++) {
            outcomes.push(await within(5000, conn.write("PING\r\n").then(() => "sent", (err: unknown) => err), `write ${i} settles`));
            await sleep(100);
          }
          const failed = outcomes.filter((o) => o !== "sent");
          assert.ok(failed.length >= 3, `the writes into a closed socket fail: ${outcomes.map(String).join(", ")}`);
          for (const err of failed) {
            assert.ok(err instanceof BrokenPipeError || err instanceof ConnectionResetError, `got ${String(err)}`);
          }
          await within(5000, conn.close(), "close()");
        }),
      );

      for (const highWaterMark of [65536, 1024]) {
        test(
          `a reader that stops reading holds back the peer in bounded memory (highWaterMark ${highWaterMark}), and gets every byte once it reads`,
          withTlsPair(side, async ({ conn, peer, remote }) => {
            const size = 16 << 20;
            let sentAll = false;
            const sending = peer.send(remote, { size }).finally(() => (sentAll = true));
            const peak = await heldBack(conn);
            assert.equal(sentAll, false, "the peer is held back while nobody reads");
            // The high-water mark, then what the TLS layer decrypts of the ciphertext it already
            // holds when it is paused (one TCP read, and its stream's buffer): SPEC 6's one chunk.
            assert.ok(peak <= highWaterMark + (192 << 10), `buffered ${peak} bytes while nobody read`);
            const [sent, bytes] = await Promise.all([sending, within(20_000, conn.readExactly(size), "every byte")]);
            assert.equal(sha256(bytes), sent.sha256);
          }, { conn: { highWaterMark } }),
          { timeout: 30_000 },
        );
      }

      test(
        "after a transfer the reader held back, the peer's close_notify still ends the loop with eof",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          const size = 16 << 20;
          const sending = peer.send(remote, { size, then: "close_notify" });
          await heldBack(conn);
          const [sent, { bytes, outcome }] = await Promise.all([sending, within(20_000, drain(conn), "the loop ended")]);
          assert.equal(outcome, "eof");
          assert.equal(sha256(bytes), sent.sha256);
        }),
        { timeout: 30_000 },
      );

      test(
        "after a transfer the reader held back, the peer's FIN without close_notify is a truncation after every byte",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          const size = 4 << 20;
          const sending = peer.send(remote, { size, then: "fin" });
          await heldBack(conn);
          const [sent, { bytes, outcome }] = await Promise.all([sending, within(20_000, drain(conn), "the loop ended")]);
          assert.equal(sha256(bytes), sent.sha256, "every byte, none after the end");
          assert.ok(outcome instanceof TlsTruncatedError, `expected TlsTruncatedError, got ${String(outcome)}`);
        }, { conn: { highWaterMark: 16384 } }),
        { timeout: 30_000 },
      );

      test(
        "plaintext chunks are plain Uint8Arrays, as over TCP: slice() copies",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          await peer.send(remote, { text: "plain", then: "close_notify" });
          assertPlainChunk(await conn.read(), "plain");
        }),
      );

      for (
        const [mode, ending] of [["flowing", "close_notify"], ["paused", "close_notify"], ["flowing", "fin"], ["paused", "fin"]] as const
      ) {
        const end = ending === "fin" ? "its end at a later FIN without close_notify" : "the close_notify";
        test(
          `unwrap() hands over the runtime's TLS socket, paused, losing no byte; its new owner reading ${mode} gets a held-back transfer and ${end}`,
          withTlsPair(side, async ({ conn, peer, remote }) => {
            await peer.send(remote, { text: "read ahead" });
            assert.equal(text(await within(5000, conn.peek({ bytes: 10 }), "the first bytes")), "read ahead");
            const { buffered, native } = conn.unwrap();
            const socket = native as import("node:tls").TLSSocket;
            assert.equal(typeof socket.getProtocol, "function", "a node:tls TLSSocket");
            // The new owner starts reading a second into a 16 MiB transfer.
            const sending = peer.send(remote, { size: 16 << 20, then: ending });
            await sleep(1000);
            const chunks: Uint8Array[] = [buffered];
            const reading = mode === "flowing"
              ? new Promise<void>((resolve, reject) => {
                socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
                socket.on("end", () => resolve());
                socket.on("error", reject);
                socket.resume(); // it was paused explicitly: a 'data' listener alone does not resume it
              })
              : (async () => {
                for await (const chunk of socket) chunks.push(chunk as Uint8Array);
              })();
            const sent = await sending;
            const total = 10 + (16 << 20);
            for (let waited = 0; concat(chunks).length < total && waited < 20_000; waited += 50) await sleep(50);
            const all = concat(chunks);
            assert.equal(text(all.subarray(0, 10)), "read ahead");
            assert.equal(all.length, total, "every byte reaches the new owner");
            assert.equal(sha256(all.subarray(10)), sent.sha256);
            await within(5000, reading, `the new owner's end at ${ending}`);
            socket.destroy();
          }),
          { timeout: 30_000 },
        );
      }

      test(
        "reset() while the peer floods a reader that reads nothing (the TLS layer paused): close() and closed settle at once",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          const sending = peer.send(remote, { size: 16 << 20 }).then(() => "sent", () => "failed");
          // The TLS layer is paused once the reader is a TCP read behind (src/tls-source.ts).
          const behind = 16384 + (16 << 10);
          for (let waited = 0; conn.buffered < behind && waited < 5000; waited += 50) await sleep(50);
          assert.ok(conn.buffered >= behind, `the peer's bytes are held back unread (${conn.buffered})`);
          conn.reset();
          await within(3000, conn.close(), "close() after reset()");
          await within(3000, conn.closed, "closed after reset()");
          assert.equal((await conn.ended).reason, "local");
          await within(10_000, sending, "the peer's send ends");
        }, { conn: { highWaterMark: 16384 } }),
      );

      // Once per runtime: the write path over TLS is the same for a connection accepted or made.
      if (side === "server") {
        test(
          "a peer that does not read holds writes back: writeTimeout ends them, in bounded memory",
          withTlsPair(side, async ({ conn }) => {
            let written = 0;
            const failure = await (async () => {
              for (let i = 0; i < 256; i++) {
                await conn.write(new Uint8Array(1 << 20));
                written++;
              }
            })().then(() => undefined, (err: unknown) => err);
            assert.ok(failure instanceof WriteTimeoutError, `got ${String(failure)} after ${written} MiB`);
            assert.ok(written < 64, `${written} MiB were reported written to a peer that reads nothing`);
          }, { conn: { writeTimeout: 1000 } }),
          { timeout: 30_000 },
        );

        test(
          "writes to a slow reader, then close(): every byte, then close_notify (none is reported written early)",
          withTlsPair(side, async ({ conn, peer, remote }) => {
            const payload = patterned(32 << 20);
            const sending = (async () => {
              for (let at = 0; at < payload.length; at += 1 << 20) await conn.write(payload.subarray(at, at + (1 << 20)));
              await conn.close();
            })();
            await sleep(2500); // longer than the linger after close() (2 s): nothing may be dropped meanwhile
            const seen = await peer.recv(remote, { timeoutMs: 20_000 });
            await within(5000, sending, "the writes and close()");
            assertReceivedThenEnd(seen, payload);
          }),
          { timeout: 30_000 },
        );
      }

      if (side === "server") {
        test(
          "a connection waiting to be accepted holds its peer back, in bounded memory, and loses no byte",
          () =>
            withPeer(async (peer) => {
              const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0, tls: tlsOptionsFor("server") });
              try {
                const remote = await peer.connect({ port: listener.addr.port });
                await peer.tls(remote, { side: "client" }); // the listener completes handshakes before the accept
                const size = 64 << 20;
                const sending = peer.send(remote, { size });
                await sleep(1000);
                const conn = (await listener.accept())!;
                assert.ok(conn.buffered <= 2 << 20, `${conn.buffered} bytes were taken in before the accept`);
                const [sent, bytes] = await Promise.all([sending, within(20_000, conn.readExactly(size), "every byte")]);
                assert.equal(sha256(bytes), sent.sha256);
                conn.reset();
              } finally {
                await listener.close();
              }
            }),
          { timeout: 30_000 },
        );
      }

      for (const how of ["end", "destroy"] as const) {
        test(
          `the TLS socket handed over by unwrap(): its ${how}() ends and releases the TCP connection beneath`,
          withTlsPair(side, async ({ conn, peer, remote }) => {
            const ports = [conn.localAddr, conn.remoteAddr].map((addr) => (addr as { port: number }).port) as [number, number];
            const socket = conn.unwrap().native as import("node:tls").TLSSocket;
            const seen = peer.recv(remote, { timeoutMs: 5000 });
            if (how === "end") socket.end();
            else socket.destroy();
            // end(): close_notify, then FIN; destroy(): the FIN alone, a truncation to the peer.
            assert.equal((await seen).end, how === "end" ? "eof" : "truncated");
            await peer.close(remote);
            for (let i = 0; i < 60 && holdsTcpSocket(...ports); i++) await sleep(50);
            assert.ok(!holdsTcpSocket(...ports), "hangup's TCP socket beneath was closed");
          }),
        );
      }

      test(
        "allowTruncation: unwrap() after the peer's FIN without close_notify hands over a TLS socket that has ended too, and can still answer",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          await peer.send(remote, { text: "bye", then: "fin" });
          assert.equal(text(await collect(conn)), "bye");
          assert.deepEqual(await conn.ended, { reason: "truncated" });
          const socket = conn.unwrap().native as import("node:tls").TLSSocket;
          if (!socket.readableEnded) {
            await within(3000, new Promise((resolve) => socket.once("end", resolve).resume()), "the handed-over socket's end");
          }
          const seen = peer.recv(remote, { timeoutMs: 5000 });
          socket.end("answer");
          const got = await seen;
          assert.equal(text(got.data), "answer");
          // Fallback (docs/tls.md): Bun's own TLS socket, once its stream ended, ends with a bare FIN.
          assert.equal(got.end, runtime === "bun" ? "truncated" : "eof", "the new owner's end(): close_notify, then FIN");
        }, { tls: { allowTruncation: true } }),
      );

      test(
        "close() sends close_notify then FIN after pending writes, the FIN at once (not when the linger ends); the peer reads every byte",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          const payload = patterned(1 << 20);
          const seen = peer.recv(remote, { timeoutMs: 10_000, awaitFin: true });
          void conn.write(payload);
          await conn.close();
          const closedAt = Date.now();
          const got = await seen;
          assertReceivedThenEnd(got, payload);
          // The peer does not close, so the linger lasts its whole 2 s: a FIN sent at its end comes
          // 2 s after close() resolved. (The bound leaves the peer 1.5 s to read the megabyte.)
          const late = got.finAt === undefined || got.finAt === null ? Infinity : got.finAt - closedAt;
          assert.ok(late < 1500, `the FIN came ${late} ms after close() resolved`);
          assert.deepEqual(await conn.ended, { reason: "local" });
        }),
      );

      test(
        "close() with the peer's bytes left unread, and the peer speaking after it: every byte still reaches it",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          // Unread here (closing a socket with bytes unread makes the kernel send an RST), and a
          // reply after our close_notify (as TLS peers that answer one do): hangup reads on until the FIN.
          const unread = peer.send(remote, { size: 4 << 20 });
          await sleep(200);
          const payload = patterned(8 << 20);
          void conn.write(payload);
          const closing = conn.close();
          const got = await peer.recv(remote, { timeoutMs: 20_000, say: "bye", sayAfter: 7 << 20 });
          await within(10_000, closing, "close() settled");
          assertReceivedThenEnd(got, payload);
          const drained = await unread;
          assert.equal(drained.sendError, undefined, "hangup read (and dropped) all the peer sent: no RST met it");
        }),
      );

      test(
        "closeWrite() sends close_notify; reading goes on until the peer's close_notify",
        withTlsPair(side, async ({ conn, peer, remote }) => {
          await conn.write("question");
          await conn.closeWrite();
          const got = await peer.recv(remote, { timeoutMs: 5000 });
          assert.equal(text(got.data), "question");
          assert.equal(got.end, "eof");
          await peer.send(remote, { text: "answer", then: "close_notify" });
          assert.equal(text(await collect(conn)), "answer");
          assert.deepEqual(await conn.ended, { reason: "eof" });
        }),
      );

      test(
        "silence: idleTimeout ends it as for plaintext",
        withTlsPair(side, async ({ conn }) => {
          const { outcome } = await within(5000, drain(conn), "idle timeout");
          assert.equal((outcome as { code?: string }).code, "ERR_IDLE_TIMEOUT");
          assert.equal((await conn.ended).reason, "idle");
        }, { conn: { idleTimeout: 300 } }),
      );

      test(
        "ALPN and server name are negotiated and reported in conn.tls",
        withTlsPair(
          side,
          async ({ conn, peerTls }) => {
            assert.equal(peerTls.alpn, "x-hangup");
            const { peerCertificate, ...info } = conn.tls!;
            assert.deepEqual(info, { protocol: "TLSv1.3", alpnProtocol: "x-hangup", serverName: "localhost" });
            if (side === "client") {
              // The server's certificate, byte for byte (what SCRAM-SHA-256-PLUS channel binding hashes), as a plain Uint8Array.
              assert.equal(Object.getPrototypeOf(peerCertificate), Uint8Array.prototype);
              assert.equal(sha256(peerCertificate!), sha256(derOf(CERTS.cert)));
            } else {
              assert.equal(peerCertificate, null, "the client sent no certificate: hangup asks none");
            }
          },
          side === "client"
            ? { tls: { alpnProtocols: ["x-hangup", "x-other"], serverName: "localhost" }, peer: { alpn: ["x-hangup"] } }
            : { tls: { alpnProtocols: ["x-hangup"] }, peer: { alpn: ["x-other", "x-hangup"], serverHostname: "localhost" } },
        ),
      );
    });
  }
}
