/** SPEC semantics 7–9 and unwrap: peek, readExactly, readUntil, lines, over real sockets. */
import assert from "node:assert/strict";
import { type Conn, ConnectionResetError, LimitExceededError, SocketClosedError, UnexpectedEofError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, concat, rejection, SIDES, sleep, text, within, withPair } from "../support/fixtures.ts";
import {
  connectNative,
  destroyNative,
  listenNative,
  readNativeStreamToEnd,
  readNativeToEnd,
  writeNativeThenEnd,
} from "../support/native.ts";
import { assertReceivedThenEnd, patterned, withPeer } from "../support/peer.ts";
import { capabilities, hangup, runtime } from "../support/runtime.ts";

const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A length-prefixed frame: 4-byte big-endian length, then the payload. */
function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

/** A 16 MiB write to a peer that does not read yet, still being sent when this resolves. */
async function writeInFlight(conn: Conn): Promise<{ payload: Uint8Array; writing: Promise<void> }> {
  const payload = patterned(16 << 20);
  const writing = conn.write(payload);
  await sleep(200);
  return { payload, writing };
}

for (const side of SIDES) {
  describe(`peek (hangup as ${side})`, () => {
    test(
      "shows the next bytes without consuming them; null at EOF",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "hello", then: "fin" });
        const peeked = await conn.peek();
        assert.equal(text(peeked), "hello");
        assert.equal(text(await conn.peek()), "hello", "a second peek shows the same bytes");
        assert.equal(text(await collect(conn)), "hello", "read() still returns them");
        assert.equal(await conn.peek(), null);
      }),
    );

    test(
      "waits for bytes; after a reset it shows the buffered bytes, then throws the reset",
      withPair(side, async ({ conn, peer, remote }) => {
        const peeking = conn.peek();
        await sleep(50);
        await peer.send(remote, { text: "last words", then: "rst" });
        assert.equal(text(await peeking), "last words");
        assert.equal((await conn.ended).reason, "reset");
        assert.equal(text(await conn.read()), "last words");
        const err = await rejection(conn.peek());
        assert.ok(err instanceof ConnectionResetError, `got ${String(err)}`);
      }),
    );
  });

  describe(`readExactly (hangup as ${side})`, () => {
    test(
      "drip-fed length-prefixed frames come out whole, in order",
      withPair(side, async ({ conn, peer, remote }) => {
        const payloads = [pattern(10, 1), pattern(0, 2), pattern(37, 3), pattern(5, 4)];
        const wire = concat(payloads.map(frame));
        const dripping = peer.drip(remote, { data: wire, intervalMs: 1, piece: 3 });
        for (const expected of payloads) {
          const header = await conn.readExactly(4);
          const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
          assert.equal(length, expected.length);
          assert.deepEqual(await conn.readExactly(length), expected);
        }
        await dripping;
      }),
    );

    test(
      "a large frame spanning many chunks is exact and intact",
      withPair(side, async ({ conn, peer, remote }) => {
        const payload = pattern(3 << 20, 9);
        await Promise.all([
          peer.send(remote, { data: frame(payload), chunk: 1000 }),
          (async () => {
            const header = await conn.readExactly(4);
            assert.equal(new DataView(header.buffer, header.byteOffset, 4).getUint32(0), payload.length);
            assert.deepEqual(await conn.readExactly(payload.length), payload);
          })(),
        ]);
      }),
      { timeout: 30_000 },
    );

    test(
      "EOF mid-frame throws UnexpectedEofError with the partial bytes; then EOF",
      withPair(side, async ({ conn, peer, remote }) => {
        const partial = pattern(30, 5);
        const wire = concat([frame(pattern(100, 5)).subarray(0, 4), partial]);
        await peer.send(remote, { data: wire, then: "fin" });
        assert.equal((await conn.readExactly(4)).length, 4);
        const err = await rejection(conn.readExactly(100));
        assert.ok(err instanceof UnexpectedEofError, `got ${String(err)}`);
        assert.equal(err.code, "ERR_UNEXPECTED_EOF");
        assert.deepEqual(err.partial, partial);
        assert.match(err.message, /30 of 100 bytes/);
        assert.equal(await conn.read(), null);
      }),
    );

    test(
      "a reset mid-frame throws ConnectionResetError; the partial bytes stay readable first",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "abc" });
        const pending = rejection(conn.readExactly(10));
        await sleep(50);
        await peer.rst(remote);
        const err = await pending;
        assert.ok(err instanceof ConnectionResetError, `got ${String(err)}`);
        assert.equal(text(await conn.read()), "abc");
        assert.ok((await rejection(conn.read())) instanceof ConnectionResetError);
      }),
    );

    test(
      "n must be a non-negative safe integer, and is required; 0 resolves with no bytes",
      withPair(side, async ({ conn, peer, remote }) => {
        for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
          const err = await rejection(conn.readExactly(bad));
          assert.ok(err instanceof RangeError, `readExactly(${bad}) should be a RangeError, got ${String(err)}`);
          assert.match(err.message, /^n must be/);
        }
        assert.ok((await rejection(conn.readExactly("4" as never))) instanceof TypeError);
        // Forgotten, n held the read forever (every later read refused as concurrent).
        const missing = await rejection((conn.readExactly as (n?: number) => Promise<Uint8Array>)());
        assert.ok(missing instanceof TypeError, `got ${String(missing)}`);
        assert.equal(missing.message, "n must be an integer, got undefined");
        assert.equal((await conn.readExactly(0)).length, 0);
        await peer.send(remote, { text: "ok" });
        assert.equal(text(await conn.readExactly(2)), "ok", "the connection reads on");
      }),
    );

    test(
      "an aborted readExactly rejects with the reason and leaves the bytes buffered",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "12345" });
        const controller = new AbortController();
        const pending = rejection(conn.readExactly(8, { signal: controller.signal }));
        await sleep(50);
        const reason = new Error("gave up");
        controller.abort(reason);
        assert.equal(await pending, reason);
        await peer.send(remote, { text: "678", then: "fin" });
        assert.equal(text(await conn.readExactly(8)), "12345678");
      }),
    );
  });

  describe(`readUntil (hangup as ${side})`, () => {
    test(
      "drip-fed messages split at a multi-byte delimiter, delimiter included; null at EOF",
      withPair(side, async ({ conn, peer, remote }) => {
        const messages = ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", "\r\n\r\n", "POST /x HTTP/1.1\r\n\r\n"];
        const dripping = peer.drip(remote, { text: messages.join(""), intervalMs: 1, piece: 2 });
        for (const message of messages) assert.equal(text(await conn.readUntil("\r\n\r\n")), message);
        await dripping;
        await peer.fin(remote);
        assert.equal(await conn.readUntil("\r\n\r\n"), null);
      }),
    );

    test(
      "EOF after some bytes throws UnexpectedEofError with them",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "one;two", then: "fin" });
        assert.equal(text(await conn.readUntil(";")), "one;");
        const err = await rejection(conn.readUntil(";"));
        assert.ok(err instanceof UnexpectedEofError, `got ${String(err)}`);
        assert.equal(text(err.partial), "two");
        assert.equal(await conn.readUntil(";"), null);
      }),
    );

    test(
      "no delimiter within maxBytes: LimitExceededError, and the bytes stay buffered",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "x".repeat(100) + ";rest" });
        const err = await rejection(conn.readUntil(";", { maxBytes: 50 }));
        assert.ok(err instanceof LimitExceededError, `got ${String(err)}`);
        assert.equal(err.code, "ERR_LIMIT_EXCEEDED");
        assert.equal(err.limit, 50);
        assert.ok(text(await conn.peek()).startsWith("x".repeat(50)), "peek shows the bytes that were too many");
        assert.equal(text(await conn.readUntil(";", { maxBytes: 200 })), "x".repeat(100) + ";");
        assert.equal(text(await conn.readExactly(4)), "rest");
      }),
    );

    test(
      "bad delimiters and limits are refused with TypeError or RangeError",
      withPair(side, async ({ conn }) => {
        assert.ok((await rejection(conn.readUntil(""))) instanceof RangeError);
        assert.ok((await rejection(conn.readUntil(5 as never))) instanceof TypeError);
        const small = await rejection(conn.readUntil("abc", { maxBytes: 2 }));
        assert.ok(small instanceof RangeError);
        assert.match(small.message, /maxBytes/);
        assert.ok((await rejection(conn.readUntil(";", { maxBytes: 0 }))) instanceof RangeError);
      }),
    );
  });

  describe(`lines (hangup as ${side})`, () => {
    test(
      "UTF-8 lines with \\n and \\r\\n, characters split across chunks, the unterminated last line at EOF",
      withPair(side, async ({ conn, peer, remote }) => {
        const sent = "héllo wörld ✓\r\nzweite Zeile 🎉\n\nlast, no newline ☃";
        const dripping = peer.drip(remote, { text: sent, intervalMs: 1, piece: 1 });
        const lines: string[] = [];
        const reading = (async () => {
          for await (const line of conn.lines()) lines.push(line);
        })();
        await dripping;
        await peer.fin(remote);
        await reading;
        assert.deepEqual(lines, ["héllo wörld ✓", "zweite Zeile 🎉", "", "last, no newline ☃"]);
      }),
    );

    test(
      "an endless line throws LimitExceededError and the peer is stalled, not buffered",
      withPair(side, async ({ conn, peer, remote }) => {
        const total = 64 << 20;
        const sending = peer.send(remote, { data: new Uint8Array(total).fill(0x61) });
        const err = await rejection((async () => {
          for await (const line of conn.lines({ maxBytes: 65536 })) throw new Error(`unexpected line of ${line.length}`);
        })());
        assert.ok(err instanceof LimitExceededError, `got ${String(err)}`);
        assert.equal(err.limit, 65536);
        await sleep(300);
        const sent = await peer.sentSoFar(remote);
        assert.ok(sent < total / 4, `the peer should stall once the limit is hit, but sent ${sent} of ${total} bytes`);
        conn.reset();
        await sending;
      }),
      { timeout: 30_000 },
    );

    test(
      "a line of exactly maxBytes passes, with \\n or \\r\\n; one byte more is refused",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: `${"a".repeat(8)}\n${"b".repeat(8)}\r\n${"c".repeat(9)}\n` });
        const iterator = conn.lines({ maxBytes: 8 })[Symbol.asyncIterator]();
        assert.equal((await iterator.next()).value, "a".repeat(8));
        assert.equal((await iterator.next()).value, "b".repeat(8));
        assert.ok((await rejection(iterator.next())) instanceof LimitExceededError);
      }),
    );

    test(
      "maxBytes + 1 bytes with no line end are refused at once, unless the last is a \r",
      withPair(side, async ({ conn, peer, remote }) => {
        // The peer then goes quiet: the limit must not wait for a byte that may never come.
        await peer.send(remote, { text: `${"a".repeat(8)}\r` });
        await within(5000, conn.peek({ bytes: 9 }), "the 9 bytes");
        const iterator = conn.lines({ maxBytes: 8 })[Symbol.asyncIterator]();
        const pending = iterator.next();
        await peer.send(remote, { text: "\n" });
        assert.equal((await within(5000, pending, "the line ending in \\r\\n")).value, "a".repeat(8));
        await peer.send(remote, { text: "b".repeat(9) });
        const err = await within(5000, rejection(iterator.next()), "the limit on 9 bytes without a line end");
        assert.ok(err instanceof LimitExceededError, `expected LimitExceededError, got ${String(err)}`);
        assert.equal(text(await conn.readExactly(9)), "b".repeat(9), "the refused bytes stay buffered");
      }),
    );

    test(
      "mixes with read(), readUntil() and for await on one connection",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "HEAD:first line\nsecond line\nBODY" });
        assert.equal(text(await conn.readUntil(":")), "HEAD:");
        for await (const line of conn.lines()) {
          assert.equal(line, "first line");
          break;
        }
        assert.equal(text(await conn.readUntil("\n")), "second line\n");
        await peer.send(remote, { text: "!!", then: "fin" });
        assert.equal(text(await collect(conn)), "BODY!!");
      }),
    );

    test(
      "a reset ends the loop by throwing ConnectionResetError after the complete lines",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "a\nb\npartial", then: "rst" });
        await conn.ended;
        const lines: string[] = [];
        const err = await rejection((async () => {
          for await (const line of conn.lines()) lines.push(line);
        })());
        assert.deepEqual(lines, ["a", "b"]);
        assert.ok(err instanceof ConnectionResetError, `got ${String(err)}`);
      }),
    );
  });

  describe(`unwrap (hangup as ${side})`, () => {
    test(
      "hands over the socket with the read-ahead bytes; the new owner misses nothing",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "HELLO proto=x\n" });
        assert.equal(text(await conn.peek()).slice(0, 5), "HELLO");
        const { buffered, native } = conn.unwrap();
        assert.ok(native !== null && typeof native === "object");
        const later = pattern(200_000, 11);
        const [rest] = await Promise.all([readNativeToEnd(native), peer.send(remote, { data: later, then: "fin" })]);
        assert.deepEqual(concat([buffered, rest]), concat([encode("HELLO proto=x\n"), later]));
      }),
    );

    test(
      "handed over twice before the bytes arrive: the last owner gets every byte, in order",
      withPair(side, async ({ conn, peer, remote }) => {
        await sleep(50); // each owner's read-ahead is in flight when it lets go
        const middle = hangup.wrap(conn.unwrap().native);
        await sleep(50);
        const { buffered, native } = middle.unwrap();
        assert.equal(buffered.length, 0);
        const later = pattern(200_000, 13);
        const reading = Promise.all([readNativeToEnd(native), peer.send(remote, { data: later, then: "fin" })]);
        const [rest] = await within(10_000, reading, "every byte and the FIN");
        assert.deepEqual(rest, later);
      }),
    );

    test(
      "handed over twice while the first hand-over still holds bytes: the last owner gets every byte, in order",
      withPair(side, async ({ conn, peer, remote }) => {
        const first = pattern(4096, 15);
        await peer.send(remote, { data: first });
        const head = await conn.readExactly(first.length); // on Deno a filled 4 KiB read: the next waits in a bigger one
        await sleep(50);
        const handedOnce = conn.unwrap(); // that read is in flight: its bytes are the next owner's
        const middlePart = pattern(50_000, 16);
        await peer.send(remote, { data: middlePart });
        await sleep(50); // the handed-over read got them
        const middle = hangup.wrap(handedOnce.native); // its first read takes some of them
        const handedTwice = middle.unwrap(); // ...and is in flight in turn
        const later = pattern(20_000, 17);
        const reading = Promise.all([readNativeToEnd(handedTwice.native), peer.send(remote, { data: later, then: "fin" })]);
        const [rest] = await within(10_000, reading, "every byte and the FIN");
        const all = concat([head, handedOnce.buffered, handedTwice.buffered, rest]);
        assert.equal(all.length, first.length + middlePart.length + later.length);
        assert.deepEqual(all, concat([first, middlePart, later]));
      }),
    );

    test(
      "the new owner may read through the runtime's own stream view: every byte, and one stream however often it is asked for",
      withPair(side, async ({ conn, peer, remote }) => {
        await sleep(50); // hangup's read-ahead is in flight when it lets go: its bytes come first
        const { buffered, native } = conn.unwrap();
        assert.equal(buffered.length, 0);
        const later = pattern(200_000, 14);
        const reading = Promise.all([readNativeStreamToEnd(native), peer.send(remote, { data: later, then: "fin" })]);
        const [{ bytes, sameStream }] = await within(10_000, reading, "every byte and the FIN");
        assert.deepEqual(bytes, later);
        assert.ok(sameStream, "the socket's stream stays the one the new owner started reading");
      }),
    );

    test(
      "the new owner may take over later: bytes that arrive in between wait for it",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "sniffed" });
        await conn.peek();
        const { buffered, native } = conn.unwrap();
        const later = pattern(100_000, 12);
        await peer.send(remote, { data: later, then: "fin" });
        await sleep(200);
        const rest = await readNativeToEnd(native);
        assert.deepEqual(concat([buffered, rest]), concat([encode("sniffed"), later]));
      }),
    );

    test(
      "after unwrap the Conn refuses every operation with SocketClosedError and is closed",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "x" });
        await conn.peek();
        const { native } = conn.unwrap();
        const rest = readNativeToEnd(native);
        assert.equal((await conn.ended).reason, "local");
        await conn.closed;
        for (const op of [() => conn.read(), () => conn.write("y"), () => conn.readExactly(1)]) {
          const err = await rejection(op());
          assert.ok(err instanceof SocketClosedError, `got ${String(err)}`);
          assert.match(err.message, /unwrapped/);
        }
        assert.throws(() => conn.unwrap(), SocketClosedError);
        await peer.fin(remote);
        assert.equal(text(await rest), "");
      }),
    );

    test("wrap() is exported exactly where capabilities.wrap says", async () => {
      assert.equal(typeof hangup.wrap === "function", capabilities.wrap);
    });

    test(
      "wrap() takes an unwrapped socket over, refuses one a Conn still owns, and takes it again after unwrap()",
      withPair(side, async ({ conn, peer, remote }) => {
        const wrap = hangup.wrap;
        const { native } = conn.unwrap();
        const keysBefore = Reflect.ownKeys(native as object);
        const tags = keysBefore.filter((key) => typeof key === "symbol" && /hangup/.test(key.description ?? ""));
        assert.deepEqual(tags, [], "hangup tags no socket it owned");
        const second = wrap(native);
        assert.deepEqual(Reflect.ownKeys(native as object), keysBefore, "wrap() puts no property on the user's socket");
        assert.throws(() => wrap(native), (err: unknown) => err instanceof TypeError && /already wrapped/.test(err.message));
        await peer.send(remote, { text: "one" });
        assert.equal(text(await second.read()), "one");
        const handedOn = second.unwrap();
        assert.equal(handedOn.buffered.length, 0);
        // An EventEmitter socket (Node's) keeps one no-op 'error' listener of hangup's, so an error
        // before its new owner listens cannot crash the process: one, however often it was handed over.
        const emitter = handedOn.native as { listenerCount?: (event: string) => number };
        if (typeof emitter.listenerCount === "function") assert.equal(emitter.listenerCount("error"), 1);
        const third = wrap(handedOn.native);
        await peer.send(remote, { text: "two" });
        await peer.fin(remote);
        assert.equal(text(await collect(third)), "two");
        assert.equal((await third.ended).reason, "eof");
        await third.close();
      }),
    );

    for (const pieces of [false, true]) {
      test(
        pieces
          ? "with a writeTimeout (sent in pieces, as under serve()), a write in flight at unwrap() still finishes whole, before what its next owner writes"
          : "a write in flight at unwrap() finishes on the handed-out socket, before what its next owner writes",
        withPair(side, async ({ conn, peer, remote }) => {
          const { payload, writing } = await writeInFlight(conn);
          const next = hangup.wrap(conn.unwrap().native);
          const tail = next.write("tail");
          const seen = peer.recv(remote, { timeoutMs: 20_000 });
          await within(20_000, writing, "the write in flight settled");
          await within(5000, tail, "the next owner's write settled");
          await next.close();
          assertReceivedThenEnd(await seen, concat([payload, new TextEncoder().encode("tail")]));
        }, pieces ? { writeTimeout: 60_000 } : {}),
        { timeout: 30_000 },
      );
    }

    test(
      "a write in flight at unwrap(), then the runtime's own API writes and half-closes at once: every byte in order, then its FIN",
      withPair(side, async ({ conn, peer, remote }) => {
        const { payload, writing } = await writeInFlight(conn);
        const { native } = conn.unwrap();
        const tail = new TextEncoder().encode("tail");
        const handing = writeNativeThenEnd(native, tail);
        const seen = peer.recv(remote, { timeoutMs: 20_000 });
        await within(20_000, writing, "the write in flight settled");
        await within(20_000, handing, "the new owner's write and FIN");
        assertReceivedThenEnd(await seen, concat([payload, tail]));
        destroyNative(native);
      }),
      { timeout: 30_000 },
    );

    test(
      "a socket handed over twice, each owner leaving a write in flight: every write goes out whole, in order",
      withPair(side, async ({ conn, peer, remote }) => {
        const first = patterned(16 << 20);
        const second = new Uint8Array(1 << 20).fill(0x42);
        const writing = conn.write(first);
        await sleep(200); // the peer does not read yet
        const middle = hangup.wrap(conn.unwrap().native, { writeTimeout: 60_000 }); // its write goes in pieces
        const writingToo = middle.write(second);
        await sleep(50);
        const last = hangup.wrap(middle.unwrap().native);
        const tail = last.write("tail");
        const seen = peer.recv(remote, { timeoutMs: 20_000 });
        await within(20_000, Promise.all([writing, writingToo, tail]), "every write settled");
        await last.close();
        assertReceivedThenEnd(await seen, concat([first, second, new TextEncoder().encode("tail")]));
      }),
      { timeout: 30_000 },
    );

    test(
      "a write in flight at unwrap(): the next owner's close() waits for it (every byte, then the FIN)",
      withPair(side, async ({ conn, peer, remote }) => {
        const { payload, writing } = await writeInFlight(conn);
        const next = hangup.wrap(conn.unwrap().native);
        const closing = next.close();
        const seen = peer.recv(remote, { timeoutMs: 20_000 });
        await within(20_000, writing, "the write in flight settled");
        await within(5000, closing, "close()");
        assertReceivedThenEnd(await seen, payload);
      }),
      { timeout: 30_000 },
    );

    test(
      "wrap() after the peer reset the handed-out socket: the new Conn reports the reset, never a clean end",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "x" });
        assert.equal(text(await conn.peek({ bytes: 1 })), "x");
        const { native } = conn.unwrap();
        await peer.rst(remote);
        await sleep(100); // the RST arrives while nobody owns the socket
        const next = hangup.wrap(native);
        const failure = await rejection(within(2000, collect(next), "the end"));
        assert.ok(failure instanceof ConnectionResetError, `got ${String(failure)}`);
        assert.equal((await next.ended).reason, "reset");
      }),
    );

    for (const wait of [0, 100]) {
      test(
        `unwrap() after the Conn reported the peer's reset, then wrap()${
          wait ? `, ${wait} ms later` : ""
        }: the new Conn reports the reset too`,
        withPair(side, async ({ conn, peer, remote }) => {
          await peer.rst(remote);
          assert.equal((await within(5000, conn.ended, "ended")).reason, "reset");
          await sleep(wait); // meanwhile the first Conn releases the socket it failed on
          const next = hangup.wrap(conn.unwrap().native);
          // The kernel reports a reset to one read only: the next owner must still hear it, not a clean end.
          const failure = await rejection(within(2000, collect(next), "the end"));
          assert.ok(failure instanceof ConnectionResetError, `got ${String(failure)}`);
          assert.equal((await next.ended).reason, "reset");
        }),
      );
    }

    test(
      "wrap() after the peer's FIN: the new Conn ends at once",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "last", then: "fin" });
        assert.equal(text(await conn.peek({ bytes: 4 })), "last");
        await sleep(100); // the FIN arrives meanwhile
        const { buffered, native } = conn.unwrap();
        assert.equal(text(buffered), "last");
        const next = hangup.wrap(native);
        assert.equal(await within(2000, next.read(), "the end"), null);
        assert.deepEqual(await next.ended, { reason: "eof" });
        await next.close();
      }),
    );

    if (runtime === "bun") {
      // Bun's own API: whoever takes an unwrapped socket over sets its `data` to a SocketOwner.
      test(
        "Bun: a SocketOwner whose handler throws, with no error handler: the socket is reset and its close gets the error",
        withPair(side, async ({ conn, peer, remote }) => {
          const socket = conn.unwrap().native as { data: unknown; resume(): void };
          const failure = new Error("the new owner failed");
          const closed = new Promise<unknown>((resolve) => {
            socket.data = {
              data: () => {
                throw failure;
              },
              close: (_socket: unknown, error?: unknown) => resolve(error),
            };
          });
          socket.resume();
          await peer.send(remote, { text: "x" });
          assert.equal(await within(5000, closed, "the owner's close"), failure);
          assert.equal((await peer.recv(remote, { timeoutMs: 5000 })).end, "reset");
        }),
      );
    }

    test(
      "unwrap while a read is pending throws a TypeError; the read goes on",
      withPair(side, async ({ conn, peer, remote }) => {
        const pending = conn.read();
        assert.throws(() => conn.unwrap(), TypeError);
        await peer.send(remote, { text: "z" });
        assert.equal(text(await pending), "z");
      }),
    );
  });
}

describe("wrap() of the runtime's own sockets", () => {
  test("an unwrapped socket hangup's listener accepted: the new Conn reads it, and the listener goes on accepting", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const first = await peer.connect({ port: listener.addr.port });
        const accepted = (await listener.accept())!;
        const again = hangup.wrap(accepted.unwrap().native);
        const second = await peer.connect({ port: listener.addr.port });
        const other = await within(5000, listener.accept(), "a later connection accepted");
        await peer.send(first, { text: "first", then: "fin" });
        await peer.send(second, { text: "second", then: "fin" });
        assert.equal(text(await collect(again)), "first");
        assert.equal(text(await collect(other!)), "second");
        await again.close();
        await other!.close();
      } finally {
        await listener.close();
      }
    }));

  test("a socket from the runtime's own connect: the Conn gets every byte, then the peer's FIN, and writes back", () =>
    withPeer(async (peer) => {
      const { listener, port } = await peer.listen();
      const client = await connectNative(port);
      const remote = await peer.accept(listener);
      const conn = hangup.wrap(client.socket);
      await peer.send(remote, { text: "from the peer", then: "fin" });
      assert.equal(text(await collect(conn)), "from the peer");
      assert.deepEqual(await conn.ended, { reason: "eof" });
      await conn.write("and back");
      await conn.close();
      assert.equal(text((await peer.recv(remote, { timeoutMs: 5000 })).data), "and back");
      assert.equal(client.ownHandlerBytes, 0, "the socket's own handlers saw none of it");
    }));

  test(
    runtime === "bun"
      ? "a socket a Bun.listen of the user's accepted is refused with a TypeError (Bun's reload() would take the whole listener's handlers); the listener is untouched"
      : "a socket the runtime's own listener accepted: the Conn reads it, and the listener goes on accepting",
    () =>
      withPeer(async (peer) => {
        const server = await listenNative();
        try {
          const first = await peer.connect({ port: server.port });
          const accepted = await server.accept();
          if (runtime === "bun") {
            assert.throws(
              () => hangup.wrap(accepted),
              (err: unknown) => err instanceof TypeError && /Bun\.listen\(\) that is not hangup's/.test(err.message),
            );
            const second = await peer.connect({ port: server.port });
            await server.accept();
            await peer.send(first, { text: "one" });
            await peer.send(second, { text: "two!" });
            for (let waited = 0; server.ownHandlerBytes.join() !== "3,4" && waited < 5000; waited += 20) await sleep(20);
            assert.deepEqual(server.ownHandlerBytes, [3, 4], "each socket's bytes reached the user's own handlers");
            return;
          }
          const conn = hangup.wrap(accepted);
          await peer.send(first, { text: "accepted by the runtime", then: "fin" });
          assert.equal(text(await collect(conn)), "accepted by the runtime");
          await conn.close();
          const second = await peer.connect({ port: server.port });
          const again = hangup.wrap(await server.accept());
          await peer.send(second, { text: "again", then: "fin" });
          assert.equal(text(await collect(again)), "again");
          await again.close();
        } finally {
          server.close();
        }
      }),
  );
});
