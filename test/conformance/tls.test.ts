/** SPEC "TLS" T1–T5: four endings told apart, typed handshake failures, STARTTLS without loss, close_notify on close. */
import assert from "node:assert/strict";
import process from "node:process";
import {
  BrokenPipeError,
  type Conn,
  ConnectionResetError,
  fromStreams,
  IdleTimeoutError,
  SocketClosedError,
  SocketError,
  TimedOutError,
  TlsHandshakeError,
  TlsTruncatedError,
  WriteTimeoutError,
} from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { assertPlainChunk, collect, concat, rejection, SIDES, sleep, text, within } from "../support/fixtures.ts";
import { assertReceivedThenEnd, patterned, type Peer, sha256, withPeer } from "../support/peer.ts";
import { capabilities, hangup, runtime } from "../support/runtime.ts";
import { holdsTcpSocket } from "../support/storm.ts";
import { connectRuntimeTls } from "../support/native.ts";
import { reclaimed } from "../support/gc.ts";
import { CERTS, hasTls, openTlsPair, pem, TLS_RUNTIMES, tlsAdapter, tlsOptionsFor, type TlsPair } from "../support/tls.ts";
import type { Side } from "../support/fixtures.ts";
import type { TlsOptions } from "../../src/index.ts";
import { NodeTlsEngine } from "../../adapters/node-tls.ts";

/** A TLS listener with one handshake slot (8 connections kept), closed once `body` is done. */
async function withOneSlot(body: (listener: Awaited<ReturnType<typeof tlsAdapter.listen>>) => Promise<void>): Promise<void> {
  const listener = await tlsAdapter.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: tlsOptionsFor("server", { handshakeTimeout: 20_000, maxHandshakes: 1 }),
  });
  try {
    await body(listener);
  } finally {
    await listener.close();
  }
}

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

/** Every byte and how the loop ended: "eof", or the error it threw. */
async function drain(conn: Conn): Promise<{ bytes: Uint8Array; outcome: unknown }> {
  const chunks: Uint8Array[] = [];
  const outcome = await collect(conn, chunks).then(() => "eof", (err: unknown) => err);
  return { bytes: concat(chunks), outcome };
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

/** The certificate codes each runtime gives (RUNTIME-NOTES "Bad certificates"). */
const CERT_CODES: Record<string, Record<"expired" | "selfsigned" | "wrongname" | "unknownCa", string>> = {
  node: {
    expired: "CERT_HAS_EXPIRED",
    selfsigned: "DEPTH_ZERO_SELF_SIGNED_CERT",
    wrongname: "ERR_TLS_CERT_ALTNAME_INVALID",
    unknownCa: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  },
  // Deno's node:tls reports an expired certificate as not verifiable (its rustls error mapped loosely).
  deno: {
    expired: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    selfsigned: "DEPTH_ZERO_SELF_SIGNED_CERT",
    wrongname: "ERR_TLS_CERT_ALTNAME_INVALID",
    unknownCa: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  },
  bun: {
    expired: "CERT_HAS_EXPIRED",
    selfsigned: "DEPTH_ZERO_SELF_SIGNED_CERT",
    wrongname: "ERR_TLS_CERT_ALTNAME_INVALID",
    unknownCa: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  },
};

if (!hasTls) {
  test(`TLS is not built on ${runtime} yet (TLS_RUNTIMES: ${TLS_RUNTIMES.join(", ")})`, () => {
    throw new Error(`hangup's ${runtime} adapter has no TLS yet: this suite cannot pass here`);
  });
} else {
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

  describe("tls handshakes", () => {
    const badCases: Array<
      { name: string; cert: "expired" | "selfsigned" | "wrongname" | "server"; code: keyof (typeof CERT_CODES)["node"]; tls: TlsOptions }
    > = [
      { name: "an expired certificate", cert: "expired", code: "expired", tls: { ca: CERTS.ca } },
      { name: "a self-signed certificate", cert: "selfsigned", code: "selfsigned", tls: { ca: CERTS.ca } },
      { name: "a certificate for another name", cert: "wrongname", code: "wrongname", tls: { ca: CERTS.ca } },
      { name: "a certificate from an unknown CA", cert: "server", code: "unknownCa", tls: {} },
    ];
    for (const bad of badCases) {
      test(`connect rejects ${bad.name} with TlsHandshakeError and the runtime's code`, () =>
        withPeer(async (peer) => {
          const { listener, port } = await peer.listen();
          const accepted = peer.accept(listener);
          const connecting = rejection(tlsAdapter.connect({ port, tls: bad.tls }));
          const remote = await accepted;
          const [peerSide, err] = await Promise.all([peer.tls(remote, { side: "server", cert: bad.cert }), connecting]);
          assert.ok(err instanceof TlsHandshakeError, `expected TlsHandshakeError, got ${String(err)}`);
          assert.equal(err.name, "TlsHandshakeError");
          assert.equal(err.code, CERT_CODES[runtime]![bad.code]);
          assert.match(err.message, new RegExp(`^Cannot connect to 127\\.0\\.0\\.1:${port}: the TLS handshake failed`));
          assert.ok(err.cause !== undefined, "the runtime's error is kept as cause");
          assert.ok(peerSide.handshakeError, "the peer saw the handshake fail too");
        }));
    }

    test("a plaintext server: TlsHandshakeError with ERR_TLS_HANDSHAKE and a message of one line of words, not the TLS library's source position", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const accepted = peer.accept(listener);
        const connecting = rejection(tlsAdapter.connect({ port, tls: { ca: CERTS.ca } }));
        const remote = await accepted;
        // Its answer, then its FIN right behind: the answer says why (the FIN won the race on Deno).
        await peer.send(remote, { data: new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n".repeat(8)), then: "fin" });
        const err = await connecting;
        assert.ok(err instanceof TlsHandshakeError, `expected TlsHandshakeError, got ${String(err)}`);
        // No certificate failed: the code is ERR_TLS_HANDSHAKE, and the runtime's own stays on the cause.
        assert.equal(err.code, "ERR_TLS_HANDSHAKE", err.message);
        assert.equal((err.cause as { code?: unknown }).code, "ERR_SSL_WRONG_VERSION_NUMBER");
        assert.match(err.message, /^Cannot connect to 127\.0\.0\.1:\d+: the TLS handshake failed: \S[^\n]*\S$/);
        assert.doesNotMatch(err.message, /\.c:\d+|error:[0-9a-f]{8}/i, "no file and line of the TLS library");
        await peer.close(listener);
      }));

    test("wrap() refuses a TLS socket, the runtime's own or one a TLS Conn handed out: over it a truncation would look like a clean end", () =>
      withPeer(async (peer) => {
        const refusesTls = (err: unknown) =>
          err instanceof TypeError && err.message.startsWith("native is a TLS socket: wrap() takes a plaintext one");
        const { listener, port } = await peer.listen();
        const accepted = peer.accept(listener);
        const connecting = connectRuntimeTls(port, CERTS.ca);
        const remote = await accepted;
        const [, own] = await Promise.all([peer.tls(remote, { side: "server" }), connecting]);
        try {
          assert.throws(() => tlsAdapter.wrap(own.socket), refusesTls, `the runtime's own TLS socket (${runtime})`);
        } finally {
          own.close();
        }
        const pair = await openTlsPair(peer, "client");
        const { native } = pair.conn.unwrap();
        try {
          assert.throws(() => tlsAdapter.wrap(native), refusesTls, "the TLS socket a TLS Conn handed out");
        } finally {
          (native as { destroy(): void }).destroy();
        }
      }));

    test("rejectUnauthorized: false accepts a self-signed certificate", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const accepted = peer.accept(listener);
        const connecting = tlsAdapter.connect({ port, tls: { rejectUnauthorized: false } });
        const remote = await accepted;
        const [, conn] = await Promise.all([peer.tls(remote, { side: "server", cert: "selfsigned" }), connecting]);
        assert.equal(conn.tls?.protocol, "TLSv1.3");
        conn.reset();
      }));

    test("connect to a server that never answers the ClientHello rejects after handshakeTimeout", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const started = Date.now();
        const err = await rejection(tlsAdapter.connect({ port, tls: { ca: CERTS.ca, handshakeTimeout: 300 } }));
        assert.ok(err instanceof TlsHandshakeError, `expected TlsHandshakeError, got ${String(err)}`);
        assert.equal(err.code, "ERR_TLS_HANDSHAKE");
        assert.match(err.message, /did not finish within 300 ms/);
        const took = Date.now() - started;
        assert.ok(took >= 250 && took < 5000, `rejected after ${took} ms`);
        await peer.close(listener);
      }));

    test("connect's timeout covers the handshake: a server that never answers the ClientHello gives TimedOutError after timeout", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const started = Date.now();
        const err = await rejection(tlsAdapter.connect({ port, timeout: 400, tls: { ca: CERTS.ca } } as never));
        assert.ok(err instanceof TimedOutError, `expected TimedOutError, got ${String(err)}`);
        assert.equal(err.message, `Cannot connect to 127.0.0.1:${port}: timed out after 400 ms`);
        const took = Date.now() - started;
        assert.ok(took >= 350 && took < 5000, `rejected after ${took} ms, not the 10 s handshakeTimeout`);
        await peer.close(listener);
      }));

    test("closing a TLS listener drops the handshakes still running: their clients are not held until handshakeTimeout", () =>
      withPeer(async (peer) => {
        const warnings: string[] = [];
        const onWarning = (warning: Error): void => void warnings.push(warning.name);
        process.on("warning", onWarning);
        try {
          const listener = await tlsAdapter.listen({
            hostname: "127.0.0.1",
            port: 0,
            tls: tlsOptionsFor("server", { handshakeTimeout: 20_000 }),
          });
          // Twelve at once: more than the 10 listeners Node allows one signal before it warns.
          const silent = await Promise.all(Array.from({ length: 12 }, () => peer.connect({ port: listener.addr.port })));
          await sleep(300); // accepted, their handshakes waiting for a ClientHello
          await listener.close();
          const started = Date.now();
          for (const client of silent) {
            const seen = await peer.recv(client, { timeoutMs: 5000 });
            assert.ok(seen.end === "eof" || seen.end === "reset", `the server let go of each silent client (peer saw ${seen.end})`);
          }
          assert.ok(Date.now() - started < 3000, `within ${Date.now() - started} ms of close()`);
          await sleep(50);
          assert.deepEqual(warnings, [], "no warning (such as MaxListenersExceededWarning)");
        } finally {
          process.off("warning", onWarning);
        }
      }));

    test("a server-side startTls whose client never sends a ClientHello rejects after handshakeTimeout, worded as accepting", () =>
      withPeer(async (peer) => {
        async function upgradeTheSession(plain: Conn): Promise<unknown> {
          return await tlsAdapter.startTls(plain, { side: "server", cert: CERTS.cert, key: CERTS.key, handshakeTimeout: 300 });
        }
        const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0 } as never);
        try {
          const connecting = peer.connect({ port: listener.addr.port });
          const plain = (await listener.accept())!;
          await connecting;
          const client = plain.remoteAddr as { hostname: string; port: number };
          const err = await rejection(upgradeTheSession(plain));
          assert.ok(err instanceof TlsHandshakeError, `expected TlsHandshakeError, got ${String(err)}`);
          assert.equal(err.message, `Cannot accept from ${client.hostname}:${client.port}: the TLS handshake did not finish within 300 ms`);
          assert.match(err.stack ?? "", /upgradeTheSession/, "the stack leads to the caller");
        } finally {
          await listener.close();
        }
      }));

    test("a listener drops a stalled handshake after handshakeTimeout and a failed one at once, and keeps accepting", () =>
      withPeer(async (peer) => {
        const listener = await tlsAdapter.listen({
          hostname: "127.0.0.1",
          port: 0,
          tls: tlsOptionsFor("server", { handshakeTimeout: 1500 }),
        });
        try {
          const port = listener.addr.port;
          const stalled = await peer.connect({ port }); // TCP only: never sends a ClientHello
          const failing = await peer.connect({ port });
          const failed = await peer.tls(failing, { side: "client", serverHostname: "wrong.example" });
          assert.ok(failed.handshakeError, "the peer refused our certificate for wrong.example");
          const good = await peer.connect({ port });
          const started = Date.now();
          const [, conn] = await Promise.all([
            peer.tls(good, { side: "client" }),
            within(1000, listener.accept(), "accept of the good client"),
          ]);
          assert.ok(Date.now() - started < 1000, "the stalled handshake did not block the good one");
          await peer.send(good, { text: "hello", then: "close_notify" });
          assert.equal(text(await collect(conn!)), "hello");
          conn!.reset();
          const dropped = await peer.recv(stalled, { timeoutMs: 5000 });
          assert.ok(dropped.end === "eof" || dropped.end === "reset", `the stalled connection was dropped (${dropped.end})`);
          assert.ok(Date.now() - started >= 1000, "not before handshakeTimeout");
        } finally {
          await listener.close();
        }
      }));

    test("maxHandshakes: a connection takes a slot at its first byte; one that sends while all run waits for a slot; past 8× the oldest silent one makes way", () =>
      withPeer((peer) =>
        withOneSlot(async (listener) => {
          const ended = async (remote: number, timeoutMs: number) => (await peer.recv(remote, { timeoutMs })).end;
          const served = async (remote: number, conn: Conn) => {
            await peer.send(remote, { text: "in", then: "close_notify" });
            assert.equal(text(await collect(conn)), "in");
            conn.reset();
          };
          const startOfRecord = new Uint8Array([0x16, 0x03, 0x01]);
          const port = listener.addr.port;
          // Connections that send nothing hold no slot: three of them, one slot, and a client is served at once.
          const silent = [await peer.connect({ port }), await peer.connect({ port }), await peer.connect({ port })];
          await sleep(200); // the listener has taken them from the kernel's queue
          const started = Date.now();
          const accepting = within(5000, listener.accept(), "accept of the client");
          const client = await peer.connect({ port });
          assert.equal((await peer.tls(client, { side: "client" })).protocol, "TLSv1.3");
          await served(client, (await accepting)!);
          assert.ok(Date.now() - started < 2000, `served at once (${Date.now() - started} ms)`);
          for (const remote of silent) assert.equal(await ended(remote, 100), "timeout", "the silent connections are kept");

          // A handshake under way (the start of a record came) holds the slot: a client whose hello
          // comes meanwhile waits for it, its bytes kept, and is served once the slot is free.
          const underWay = await peer.connect({ port });
          await peer.send(underWay, { data: startOfRecord });
          await sleep(200);
          const waiter = await peer.connect({ port });
          const waiterAccepted = listener.accept();
          const waiterTls = peer.tls(waiter, { side: "client" });
          const early = await Promise.race([waiterAccepted.then(() => "accepted"), sleep(600).then(() => "waiting")]);
          assert.equal(early, "waiting", "no second handshake runs while the slot is taken");
          assert.equal(await ended(underWay, 100), "timeout", "the handshake under way keeps its slot");
          await peer.rst(underWay);
          const waiterConn = await within(5000, waiterAccepted, "accept of the waiting client once the slot is free");
          assert.equal((await waiterTls).protocol, "TLSv1.3");
          await served(waiter, waiterConn!);

          // 8 × maxHandshakes connections are kept in their handshake: a ninth drops the oldest silent one.
          for (let i = 0; i < 5; i++) silent.push(await peer.connect({ port }));
          await sleep(200);
          silent.push(await peer.connect({ port }));
          assert.ok(["reset", "eof"].includes(await ended(silent[0]!, 2000)), "the oldest silent connection was dropped");
          assert.equal(await ended(silent[1]!, 300), "timeout", "the next one still waits");

          // None silent (one runs, seven wait for its slot): now the newcomer is the one dropped.
          const kept = silent.slice(1);
          for (const remote of kept) await peer.send(remote, { data: startOfRecord });
          await sleep(200);
          const newcomer = await peer.connect({ port }).catch((err: Error) => err);
          if (typeof newcomer === "number") assert.ok(["reset", "eof"].includes(await ended(newcomer, 2000)), "the newcomer was dropped");
          else assert.match(newcomer.message, /ConnectionResetError/);
          for (const remote of [kept[0]!, kept[7]!]) {
            assert.equal(await ended(remote, 300), "timeout", "the connections that sent keep their places");
          }
        })
      ));

    test("a burst past 8 × maxHandshakes of clients that all sent bytes: the newest are dropped, never the first ones, whose bytes the listener had not read yet", () =>
      withPeer((peer) =>
        withOneSlot(async (listener) => {
          const port = listener.addr.port;
          const burst = await peer.burst({ port, count: 11, data: new Uint8Array([0x16]) });
          const ends: string[] = [];
          for (const remote of burst) ends.push((await peer.recv(remote, { timeoutMs: 300 })).end);
          const dropped = ends.flatMap((end, i) => (end === "timeout" ? [] : [i]));
          assert.deepEqual(dropped, [8, 9, 10], `8 kept (one runs, seven wait), the newest three dropped: ${ends.join(", ")}`);
        })
      ));

    test("a client that leaves while it waits for a handshake slot is let go at once, not at handshakeTimeout", () =>
      withPeer((peer) =>
        withOneSlot(async (listener) => {
          const port = listener.addr.port;
          const underWay = await peer.connect({ port });
          await peer.send(underWay, { data: new Uint8Array([0x16, 0x03, 0x01]) });
          await sleep(200);
          for (let trial = 0; trial < 3; trial++) {
            const waiter = await peer.connect({ port });
            await peer.send(waiter, { data: new Uint8Array([0x16, 0x03, 0x01, 0x00]) });
            await sleep(200); // it waits for the slot
            await peer.fin(waiter);
            const seen = await peer.recv(waiter, { timeoutMs: 3000 });
            assert.ok(["eof", "reset"].includes(seen.end), `the listener let the waiting client go (${seen.end})`);
          }
          assert.equal((await peer.recv(underWay, { timeoutMs: 200 })).end, "timeout", "the handshake under way keeps its slot");
        })
      ));

    test("closing a TLS listener stops every handshake, running and waiting for a slot: none gets a TLS layer after the close", () =>
      withPeer(async (peer) => {
        // Counts the TLS layers the listener makes (every runtime's listener runs node:tls's).
        let started = 0;
        const start = NodeTlsEngine.prototype.start;
        NodeTlsEngine.prototype.start = function (this: NodeTlsEngine, ...args: Parameters<typeof start>) {
          started++;
          return start.apply(this, args);
        };
        try {
          const listener = await tlsAdapter.listen({
            hostname: "127.0.0.1",
            port: 0,
            tls: tlsOptionsFor("server", { handshakeTimeout: 20_000, maxHandshakes: 1 }),
          });
          const port = listener.addr.port;
          const underWay = await peer.connect({ port });
          await peer.send(underWay, { data: new Uint8Array([0x16, 0x03, 0x01]) });
          await sleep(200);
          const waiters = [await peer.connect({ port }), await peer.connect({ port }), await peer.connect({ port })];
          const handshakes = waiters.map((remote) => peer.tls(remote, { side: "client", timeoutMs: 10_000 }));
          await sleep(400); // their ClientHellos came: they wait for the slot
          assert.equal(started, 1, "one handshake runs, the others wait without a TLS layer");
          await listener.close();
          for (const result of await within(5000, Promise.all(handshakes), "the waiting clients' handshakes end")) {
            assert.ok(result.handshakeError !== undefined, `a waiting client's handshake failed: ${JSON.stringify(result)}`);
          }
          assert.equal(["reset", "eof"].includes((await peer.recv(underWay, { timeoutMs: 2000 })).end), true);
          await sleep(200);
          assert.equal(started, 1, "no TLS layer was made after the close");
        } finally {
          NodeTlsEngine.prototype.start = start;
        }
      }));

    test("bad TLS options throw TypeError/RangeError naming the option", async () => {
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { handshakeTimeout: -1 } }), {
        name: "RangeError",
        message: /tls\.handshakeTimeout/,
      });
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { ca: 5 as never } }), {
        name: "TypeError",
        message: /^tls\.ca must be a string or an array of strings/,
      });
      // An option hangup does not have is refused, never ignored: a certificate check that silently does nothing.
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { checkServerIdentity: () => undefined } as never }), {
        name: "TypeError",
        message: /^tls\.checkServerIdentity is not a TLS option hangup has/,
      });
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { servername: "db.example" } as never }), {
        name: "TypeError",
        message: /^tls\.servername is Node's tls\.connect spelling: hangup's is tls\.serverName/,
      });
      await assert.rejects(tlsAdapter.listen({ port: 0, tls: { cert: CERTS.cert, key: CERTS.key, minVersion: "TLSv1.3" } as never }), {
        name: "TypeError",
        message: /^tls\.minVersion is not a TLS option/,
      });
      // startTls takes the connection's options too, and says so.
      const plain = await withPeer(async (peer) => {
        const { plain } = await plainClient(peer);
        await assert.rejects(tlsAdapter.startTls(plain, { idletimeout: 5 } as never), {
          name: "TypeError",
          message: /^options\.idletimeout is not an option of startTls \(it has side, idleTimeout, .*, serverName, ca,/,
        });
        return plain;
      });
      plain.reset();
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { alpnProtocols: ["ok", ""] } }), {
        name: "TypeError",
        message: /tls\.alpnProtocols\[1\]/,
      });
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: "yes" as never }), {
        name: "TypeError",
        message: /^tls must be true or an object/,
      });
      await assert.rejects(tlsAdapter.listen({ port: 0, tls: {} }), { name: "TypeError", message: /tls\.cert and tls\.key are required/ });
      await assert.rejects(tlsAdapter.listen({ port: 0, tls: { cert: CERTS.cert } }), {
        name: "TypeError",
        message: /tls\.cert and tls\.key go together/,
      });
      await assert.rejects(tlsAdapter.listen({ port: 0, tls: { cert: "not pem", key: CERTS.key } }), {
        name: "TypeError",
        message: /^tls\.cert must be PEM text/,
      });
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { ca: [CERTS.ca, "x"] } }), {
        name: "TypeError",
        message: /^tls\.ca\[1\] must be PEM text/,
      });
      await assert.rejects(tlsAdapter.listen({ port: 0, tls: { cert: CERTS.cert, key: CERTS.key, maxHandshakes: 0 } }), {
        name: "RangeError",
        message: /^tls\.maxHandshakes/,
      });
    });

    test("a certificate and a key that do not belong together, or PEM that does not parse, throw TypeError before any connection", async () => {
      // Deno's node:tls takes such a key without a word and then fails every handshake; Node's and Bun's throw a plain Error.
      const otherKey = pem("selfsigned.key");
      await assert.rejects(tlsAdapter.listen({ port: 0, tls: { cert: CERTS.cert, key: otherKey } }), {
        name: "TypeError",
        message: /^tls\.key is not the private key of tls\.cert/,
      });
      // Port 1: nothing listens there, so a TypeError shows the check came before connecting.
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { ca: CERTS.ca, cert: CERTS.cert, key: otherKey } }), {
        name: "TypeError",
        message: /^tls\.key is not the private key of tls\.cert/,
      });
      const garbled = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
      await assert.rejects(tlsAdapter.listen({ port: 0, tls: { cert: garbled, key: CERTS.key } }), {
        name: "TypeError",
        message: /^tls\.cert must be a PEM certificate/,
      });
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { ca: garbled } }), {
        name: "TypeError",
        message: /^tls\.ca must be PEM certificates/,
      });
      // An empty list would trust no server: refused here, not a handshake failure later.
      await assert.rejects(tlsAdapter.connect({ port: 1, tls: { ca: [] } }), {
        name: "RangeError",
        message: "tls.ca must hold at least one PEM certificate, got an empty array",
      });
    });

    test("one PEM file holding the key and the certificate serves as both cert and key", () =>
      withPeer(async (peer) => {
        const combined = CERTS.key + CERTS.cert;
        const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0, tls: { cert: combined, key: combined } });
        try {
          const remote = await peer.connect({ port: listener.addr.port });
          const [peerTls, conn] = await Promise.all([peer.tls(remote, { side: "client" }), within(5000, listener.accept(), "accept")]);
          assert.equal(peerTls.protocol, "TLSv1.3");
          conn!.reset();
        } finally {
          await listener.close();
        }
      }));

    test("a handshakeTimeout beyond 2^31-1 ms is waited out like any millisecond option, not fired at once", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const accepted = peer.accept(listener);
        const connecting = tlsAdapter.connect({ port, tls: { ca: CERTS.ca, handshakeTimeout: 2 ** 31 } });
        const remote = await accepted;
        // setTimeout fires at once for such a delay: a timer passed it would have failed the handshake by now.
        await sleep(200);
        const [peerTls, conn] = await Promise.all([peer.tls(remote, { side: "server" }), within(5000, connecting, "connect")]);
        assert.equal(peerTls.protocol, "TLSv1.3");
        conn.reset();
      }));
  });

  describe("startTls", () => {
    test("server side: a ClientHello pipelined right behind STARTTLS\\r\\n is not lost", () =>
      withPeer(async (peer) => {
        const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0 } as never);
        const port = listener.addr.port;
        const remote = await peer.connect({ port });
        const plain = (await listener.accept())!;
        await listener.close();
        // One segment: the command and the ClientHello. hangup reads both before it parses the line.
        const peerTls = peer.tls(remote, { side: "client", line: "STARTTLS\r\n" });
        assert.equal(text(await plain.readUntil("\r\n")), "STARTTLS\r\n");
        assert.ok((await plain.peek())!.length > 0, "the ClientHello is read ahead into the plaintext conn");
        const conn = await startTlsWithin(plain, { side: "server", cert: CERTS.cert, key: CERTS.key });
        assert.equal((await peerTls).protocol, "TLSv1.3");
        assert.equal(conn.tls?.protocol, "TLSv1.3");
        assert.ok((await rejection(plain.read())) instanceof SocketClosedError, "the plaintext conn is consumed");
        const [sent, { bytes, outcome }] = await Promise.all([peer.send(remote, { size: 200_000, then: "close_notify" }), drain(conn)]);
        assert.equal(outcome, "eof");
        assert.equal(sha256(bytes), sent.sha256);
        conn.reset();
      }));

    test("server side: plaintext read ahead behind STARTTLS\\r\\n fails the upgrade with TlsHandshakeError, and the process lives on (Deno's TLS socket threw out of a tick)", () =>
      withPeer(async (peer) => {
        const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0 } as never);
        const remote = await peer.connect({ port: listener.addr.port });
        const plain = (await listener.accept())!;
        await listener.close();
        // One segment: a client that speaks on in plaintext instead of sending its ClientHello.
        await peer.send(remote, { text: "STARTTLS\r\nNOOP\r\n" });
        assert.equal(text(await plain.readUntil("\r\n")), "STARTTLS\r\n");
        assert.equal(text((await plain.peek({ bytes: 6 }))!), "NOOP\r\n", "read ahead into the plaintext conn");
        const err = await rejection(startTlsWithin(plain, { side: "server", cert: CERTS.cert, key: CERTS.key }));
        assert.ok(err instanceof TlsHandshakeError, `expected TlsHandshakeError, got ${String(err)}`);
        assert.match(err.message, /^Cannot accept from 127\.0\.0\.1:\d+: the TLS handshake failed/);
        // A tick for what Deno's TLS socket had scheduled: the harness fails the case on an uncaught exception.
        await sleep(100);
        const seen = await peer.recv(remote, { timeoutMs: 5000 });
        assert.ok(["eof", "reset"].includes(seen.end), `the peer sees the connection end, saw ${seen.end}`);
      }));

    test("client side: plaintext read ahead behind the server's answer fails the upgrade with TlsHandshakeError, and the process lives on", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const accepted = peer.accept(listener);
        const plain = await tlsAdapter.connect({ port } as never);
        const remote = await accepted;
        await peer.close(listener);
        // The server's go-ahead and more plaintext in one segment (CVE-2021-23222 is the kind of thing this is).
        await peer.send(remote, { text: "+OK\r\nINJECTED\r\n" });
        assert.equal(text(await plain.readUntil("\r\n")), "+OK\r\n");
        assert.equal(text((await plain.peek({ bytes: 10 }))!), "INJECTED\r\n");
        const err = await rejection(startTlsWithin(plain, { ca: CERTS.ca }));
        assert.ok(err instanceof TlsHandshakeError, `expected TlsHandshakeError, got ${String(err)}`);
        assert.match(err.message, /^Cannot start TLS with 127\.0\.0\.1:\d+: the TLS handshake failed/);
        await sleep(100);
      }));

    test("startTls() refuses a Conn it cannot upgrade (one from fromStreams) with a TypeError, and leaves it as it was: its bytes still read", async () => {
      const conn = fromStreams({
        readable: new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode("read ahead")) }),
        writable: new WritableStream<Uint8Array>(),
      });
      assert.equal(text(await conn.peek({ bytes: 10 })), "read ahead");
      const err = await rejection(startTlsWithin(conn, { ca: CERTS.ca, serverName: "localhost" }));
      assert.ok(err instanceof TypeError, `expected TypeError, got ${String(err)}`);
      assert.match(err.message, /^conn must be a plaintext hangup Conn over a (net\.Socket|Deno\.Conn|Bun socket) \(from this adapter\)$/);
      assert.equal(text(await conn.read()), "read ahead", "the buffered bytes are still the conn's");
      conn.reset();
    });

    test("startTls() with a read pending is refused with a TypeError that says so; the connection and its read go on", () =>
      withPeer(async (peer) => {
        const { plain, remote } = await plainClient(peer);
        const pending = plain.readUntil("\r\n");
        const err = await rejection(startTlsWithin(plain, { ca: CERTS.ca }));
        assert.ok(err instanceof TypeError, `expected TypeError, got ${String(err)}`);
        assert.equal(err.message, "Cannot start TLS while a read is pending on this connection; await it first");
        await peer.send(remote, { text: "+OK\r\n" });
        assert.equal(text(await within(5000, pending, "the pending read")), "+OK\r\n");
        await plain.write("still plaintext\n");
        assert.equal(text((await peer.recv(remote, { count: 16, timeoutMs: 5000 })).data), "still plaintext\n");
        plain.reset();
      }));

    test("server side: the listener and its other connections are untouched by one connection's upgrade", () =>
      withPeer(async (peer) => {
        const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0 } as never);
        try {
          const port = listener.addr.port;
          const upgrading = await peer.connect({ port });
          const plain = (await listener.accept())!;
          const bystander = await peer.connect({ port });
          const other = (await listener.accept())!;
          const peerTls = peer.tls(upgrading, { side: "client", line: "STARTTLS\r\n" });
          assert.equal(text(await plain.readUntil("\r\n")), "STARTTLS\r\n");
          const conn = await startTlsWithin(plain, { side: "server", cert: CERTS.cert, key: CERTS.key });
          await peerTls;
          // Bun's socket.reload() on an accepted socket would replace its whole listener's handlers.
          await peer.send(bystander, { text: "still mine", then: "fin" });
          assert.equal(text(await within(5000, collect(other), "the other connection's bytes")), "still mine");
          const later = await peer.connect({ port });
          const accepted = await within(5000, listener.accept(), "a later connection accepted");
          await peer.send(later, { text: "later", then: "fin" });
          assert.equal(text(await within(5000, collect(accepted!), "the later connection's bytes")), "later");
          conn.reset();
          other.reset();
          accepted!.reset();
        } finally {
          await listener.close();
        }
      }));

    test("server side under serve(): the upgraded connection keeps serve()'s writeTimeout, and serve() closes it when the handler returns", () =>
      withPeer(async (peer) => {
        const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0 } as never);
        const port = listener.addr.port;
        const stop = new AbortController();
        const flooded: unknown[] = [];
        const serving = hangup.serve(listener as never, async (plain: Conn) => {
          const command = text((await plain.readUntil("\r\n"))!);
          const conn = await tlsAdapter.startTls(plain, { side: "server", cert: CERTS.cert, key: CERTS.key });
          if (command === "HELLO\r\n") return void await conn.write("hello"); // returns without closing it
          flooded.push(await conn.write(new Uint8Array(64 << 20)).then(() => "written", (err: unknown) => err));
        }, { signal: stop.signal, writeTimeout: 500 });
        try {
          const greeted = await peer.connect({ port });
          await peer.tls(greeted, { side: "client", line: "HELLO\r\n" });
          const seen = await peer.recv(greeted, { timeoutMs: 5000 });
          assert.equal(text(seen.data), "hello");
          assert.equal(seen.end, "eof", "serve() closed the upgraded connection: close_notify, then FIN");

          const stalled = await peer.connect({ port, rcvbuf: 4096 });
          await peer.tls(stalled, { side: "client", line: "FLOOD\r\n" });
          for (let i = 0; i < 100 && flooded.length === 0; i++) await sleep(50);
          assert.ok(flooded[0] instanceof WriteTimeoutError, `a peer that reads nothing: got ${String(flooded[0])}`);
        } finally {
          stop.abort();
          await serving;
        }
      }));

    test("server side under serve(): a shutdown while an upgrade's handshake runs resets the connection at the drain's end, not at handshakeTimeout", () =>
      withPeer(async (peer) => {
        const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0 } as never);
        const stop = new AbortController();
        let outcome: unknown = "not upgrading yet";
        const serving = hangup.serve(listener as never, async (plain: Conn) => {
          await plain.readUntil("\r\n");
          outcome = "still upgrading";
          outcome = await tlsAdapter.startTls(plain, { side: "server", cert: CERTS.cert, key: CERTS.key })
            .then(() => "upgraded", (err: unknown) => err);
        }, { signal: stop.signal, drainTimeout: 200 });
        const remote = await peer.connect({ port: listener.addr.port });
        // The client says STARTTLS and never sends its ClientHello: the handshake waits (default 10 s).
        await peer.send(remote, { text: "STARTTLS\r\n" });
        for (let waited = 0; outcome === "not upgrading yet" && waited < 5000; waited += 20) await sleep(20);
        await sleep(100); // inside startTls(), waiting for the ClientHello
        const stopped = Date.now();
        stop.abort();
        await within(3000, serving, "serve() ends once the drain has reset the connection");
        assert.ok(Date.now() - stopped < 3000, `after ${Date.now() - stopped} ms`);
        assert.ok(outcome instanceof SocketClosedError, `the handler's startTls() rejects: got ${String(outcome)}`);
        assert.match(outcome.message, /^Cannot accept from 127\.0\.0\.1:\d+: the connection was reset during the TLS handshake$/);
        const seen = await peer.recv(remote, { timeoutMs: 3000 });
        assert.equal(seen.end, capabilities.reset ? "reset" : "eof", "the client sees the reset (Deno: a FIN)");
      }));

    test("client side: the upgraded connection keeps the options connect was given (idleTimeout)", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const accepted = peer.accept(listener);
        const plain = await tlsAdapter.connect({ port, idleTimeout: 400 } as never);
        const remote = await accepted;
        const [, conn] = await Promise.all([peer.tls(remote, { side: "server" }), startTlsWithin(plain, { ca: CERTS.ca })]);
        const started = Date.now();
        const err = await within(5000, rejection(conn.read()), "the idle timeout");
        assert.ok(err instanceof IdleTimeoutError, `got ${String(err)}`);
        assert.ok(Date.now() - started >= 300, `after ${Date.now() - started} ms`);
        assert.deepEqual(await conn.ended, { reason: "idle", error: err });
      }));

    test("client side: a STARTTLS command written without awaiting right before startTls() goes out first", () =>
      withPeer(async (peer) => {
        const { plain, remote } = await plainClient(peer);
        void plain.write("STARTTLS\r\n");
        const upgrading = startTlsWithin(plain, { ca: CERTS.ca });
        assert.equal(text((await peer.recv(remote, { count: 10 })).data), "STARTTLS\r\n", "the command, then the ClientHello");
        const [peerTls, conn] = await Promise.all([peer.tls(remote, { side: "server" }), upgrading]);
        assert.equal(peerTls.protocol, "TLSv1.3");
        conn.reset();
      }));

    test("client side: writes before startTls() that the peer does not take end it after handshakeTimeout, the connection not consumed", () =>
      withPeer(async (peer) => {
        const { plain } = await plainClient(peer, { rcvbuf: 4096 });
        void plain.write(new Uint8Array(64 << 20)).catch(() => {}); // more than the socket buffers hold
        const started = Date.now();
        const err = await rejection(tlsAdapter.startTls(plain, { ca: CERTS.ca, handshakeTimeout: 300 }));
        assert.ok(err instanceof TlsHandshakeError, `got ${String(err)}`);
        assert.match(err.message, /the writes before startTls\(\) did not go out within 300 ms/);
        assert.ok(Date.now() - started < 3000, `after ${Date.now() - started} ms`);
        assert.equal(plain.signal.aborted, false, "the plaintext connection is still the caller's");
        plain.reset();
      }));

    test("client side: a bad client certificate throws TypeError and leaves the plaintext connection usable", () =>
      withPeer(async (peer) => {
        const { plain, remote } = await plainClient(peer);
        await assert.rejects(tlsAdapter.startTls(plain, { ca: CERTS.ca, cert: CERTS.cert, key: pem("selfsigned.key") }), {
          name: "TypeError",
          message: /^options\.key is not the private key of options\.cert/,
        });
        await plain.write("still here");
        assert.equal(text((await peer.recv(remote, { count: 10 })).data), "still here");
        plain.reset();
      }));

    test("client side: without serverName, the name checked and sent is the hostname connect was given, as for connect({ tls })", () =>
      withPeer(async (peer) => {
        const { listener, port } = await peer.listen();
        const accepted = peer.accept(listener);
        const plain = await tlsAdapter.connect({ hostname: "localhost", port } as never);
        const remote = await accepted;
        const [, conn] = await Promise.all([peer.tls(remote, { side: "server" }), startTlsWithin(plain, { ca: CERTS.ca })]);
        assert.equal(conn.tls?.serverName, "localhost", "not the numeric address remoteAddr holds");
        conn.reset();
      }));

    test("client side: upgrade after a plaintext exchange, bytes both ways, then a clean end; the plaintext Conn says it was handed to startTls()", () =>
      withPeer(async (peer) => {
        const { plain, remote } = await plainClient(peer);
        await plain.write("STARTTLS\r\n");
        assert.equal(text((await peer.recv(remote, { count: 10 })).data), "STARTTLS\r\n");
        await peer.send(remote, { text: "220 go ahead\r\n" });
        assert.equal(text(await plain.readUntil("\r\n")), "220 go ahead\r\n");
        const [peerTls, conn] = await Promise.all([peer.tls(remote, { side: "server" }), startTlsWithin(plain, { ca: CERTS.ca })]);
        assert.equal(peerTls.protocol, "TLSv1.3");
        // The consumed plaintext Conn: ended by us, and every use of it points to the upgraded one.
        const upgraded = /^Cannot read: the connection was handed to startTls\(\)$/;
        await assert.rejects(plain.read(), { name: "SocketClosedError", message: upgraded });
        assert.deepEqual(await plain.ended, { reason: "local" });
        assert.match(String((plain.signal.reason as Error).message), /^The connection was handed to startTls\(\)$/);
        const echo = peer.recv(remote, { count: 5 });
        await conn.write("hello");
        assert.equal(text((await echo).data), "hello");
        await peer.send(remote, { text: "world", then: "close_notify" });
        assert.equal(text(await collect(conn)), "world");
        assert.deepEqual(await conn.ended, { reason: "eof" });
        conn.reset();
      }));
  });

  describe("tls reset race", () => {
    const TRIALS = 200;
    for (const side of SIDES) {
      test(`${TRIALS} trials of data then RST (hangup as ${side}): zero reported as eof or truncated`, () =>
        withPeer(async (peer) => {
          const misreports: string[] = [];
          const data = new Uint8Array(16_384).map((_, i) => i % 253);
          const deadline = Date.now() + 100_000;
          let trial = 0;
          for (; trial < TRIALS && Date.now() < deadline; trial++) {
            const { conn, remote } = await openTlsPair(peer, side);
            await peer.send(remote, { data, then: "rst" });
            const { bytes, outcome } = await drain(conn);
            if (!(outcome instanceof ConnectionResetError)) misreports.push(`trial ${trial}: ${String(outcome)}`);
            if (sha256(bytes) !== sha256(data)) misreports.push(`trial ${trial}: ${bytes.length} of ${data.length} bytes before the reset`);
            const ended = await conn.ended;
            if (ended.reason !== "reset") misreports.push(`trial ${trial}: ended.reason ${ended.reason}`);
            conn.reset();
            await conn.closed;
          }
          assert.deepEqual(misreports, []);
          assert.equal(trial, TRIALS, `only ${trial} trials within the time bound`);
        }), { timeout: 120_000 });
    }
  });
}

/** The DER bytes of a PEM certificate. */
function derOf(pem: string): Uint8Array {
  const base64 = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** A plaintext hangup client connected to the peer (for STARTTLS), and the peer's end of it. */
async function plainClient(peer: Peer, listenOptions: Parameters<Peer["listen"]>[0] = {}): Promise<{ plain: Conn; remote: number }> {
  const { listener, port } = await peer.listen(listenOptions);
  const accepted = peer.accept(listener);
  const plain = await tlsAdapter.connect({ port } as never);
  return { plain, remote: await accepted };
}

function startTlsWithin(conn: Conn, options: Parameters<typeof tlsAdapter.startTls>[1]): Promise<Conn> {
  return within(5000, tlsAdapter.startTls(conn, options), "startTls");
}
