/**
 * SPEC "Framing", SPEC 9's way past an over-long line, and `peek({ bytes })`, over real TCP.
 */
import assert from "node:assert/strict";
import { ConnectionResetError, type DecodeResult, LimitExceededError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { SIDES, text, withPair } from "../support/fixtures.ts";
import { sha256 } from "../support/peer.ts";

/** A 2-byte big-endian length, then the payload. */
function frame(bytes: Uint8Array): DecodeResult<Uint8Array> {
  if (bytes.length < 2) return { need: 2 };
  const size = (bytes[0]! << 8) | bytes[1]!;
  return bytes.length < 2 + size ? { need: 2 + size } : { value: bytes.subarray(2, 2 + size), used: 2 + size };
}

function framed(payloads: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(payloads.reduce((n, p) => n + 2 + p.length, 0));
  let at = 0;
  for (const p of payloads) {
    out[at] = p.length >> 8;
    out[at + 1] = p.length & 0xff;
    out.set(p, at + 2);
    at += 2 + p.length;
  }
  return out;
}

const payloads = Array.from({ length: 300 }, (_, i) => new Uint8Array((i * 7919) % 3000).fill(i & 0xff));

for (const side of SIDES) {
  describe(`peek({ bytes }) (hangup as ${side})`, () => {
    test(
      "a sniffer waits for 4 bytes that arrive one at a time, and routes by them; nothing is consumed",
      withPair(side, async ({ conn, peer, remote }) => {
        const dripping = peer.drip(remote, { text: "GET / HTTP/1.0\r\n\r\n", intervalMs: 30 });
        const head = await conn.peek({ bytes: 4 });
        assert.ok(head !== null && head.length >= 4, `peeked ${head?.length} bytes`);
        assert.equal(text(head.subarray(0, 4)), "GET ");
        await dripping;
        assert.equal(text(await conn.readUntil("\r\n\r\n")), "GET / HTTP/1.0\r\n\r\n");
      }),
    );

    test(
      "at EOF with fewer bytes it resolves with what there is, then null",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "ab", then: "fin" });
        assert.equal(text(await conn.peek({ bytes: 10 })), "ab");
        assert.equal(text(await conn.readExactly(2)), "ab");
        assert.equal(await conn.peek({ bytes: 10 }), null);
      }),
    );
  });

  describe(`the way past an over-long line (hangup as ${side})`, () => {
    test(
      "a good line, a 10 MiB line, a good line: LimitExceededError, skipUntil() discards it in bounded memory, reading goes on",
      withPair(side, async ({ conn, peer, remote }) => {
        const sending = (async () => {
          await peer.send(remote, { text: "good 1\n" });
          await peer.send(remote, { size: 10 << 20, fill: 0x78 });
          await peer.send(remote, { text: "\ngood 2\n", then: "fin" });
        })();
        const seen: string[] = [];
        let limited: unknown;
        try {
          for await (const line of conn.lines({ maxBytes: 1024 })) seen.push(line);
        } catch (err) {
          limited = err;
        }
        assert.deepEqual(seen, ["good 1"]);
        assert.ok(limited instanceof LimitExceededError, `got ${String(limited)}`);
        let peak = 0;
        const watch = setInterval(() => (peak = Math.max(peak, conn.buffered)), 1);
        const skipped = await conn.skipUntil("\n");
        clearInterval(watch);
        assert.equal(skipped, (10 << 20) + 1);
        assert.ok(peak <= 4 << 20, `held ${peak} bytes while skipping`);
        for await (const line of conn.lines({ maxBytes: 1024 })) seen.push(line);
        assert.deepEqual(seen, ["good 1", "good 2"]);
        await sending;
      }),
      { timeout: 30_000 },
    );

    test(
      "skipUntil() that meets the peer's reset rejects with it and leaves nothing half-skipped: later reads throw the same error",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "hello world", then: "rst" });
        const err = await conn.skipUntil("xyz").then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof ConnectionResetError, `got ${String(err)}`);
        assert.equal(conn.buffered, 0, "the tail that could have begun a delimiter went too");
        assert.equal(await conn.read().then(() => undefined, (e: unknown) => e), err);
      }),
    );
  });

  describe(`decode() (hangup as ${side})`, () => {
    test(
      "300 frames of 0–3000 bytes arrive whole and in order, then the loop ends at EOF",
      withPair(side, async ({ conn, peer, remote }) => {
        const bytes = framed(payloads);
        await peer.send(remote, { data: bytes, chunk: 1000, then: "fin" });
        const got: Uint8Array[] = [];
        for await (const payload of conn.decode(frame)) got.push(payload);
        assert.equal(got.length, payloads.length);
        assert.equal(sha256(...got), sha256(...payloads));
        assert.equal(conn.buffered, 0);
      }),
    );

    test(
      "a reset after the frames: every complete frame first, then ConnectionResetError",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { data: framed(payloads.slice(0, 20)), then: "rst" });
        const got: Uint8Array[] = [];
        let thrown: unknown;
        try {
          for await (const payload of conn.decode(frame)) got.push(payload);
        } catch (err) {
          thrown = err;
        }
        assert.ok(thrown instanceof ConnectionResetError, `got ${String(thrown)}`);
        assert.equal(got.length, 20, "every frame that arrived before the reset");
        assert.equal(sha256(...got), sha256(...payloads.slice(0, 20)));
      }),
    );

    test(
      "replies written without awaiting each arrive in order, and buffered tells when to flush",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { data: framed(payloads.slice(0, 50)), then: "fin" });
        const pending: Promise<void>[] = [];
        let flushes = 0;
        for await (const payload of conn.decode(frame)) {
          pending.push(conn.write(Uint8Array.of(payload.length >> 8, payload.length & 0xff)));
          if (conn.buffered === 0) {
            flushes++;
            await Promise.all(pending.splice(0));
          }
        }
        await Promise.all(pending);
        await conn.closeWrite();
        const seen = await peer.recv(remote);
        assert.equal(seen.length, 100);
        const sizes = Array.from({ length: 50 }, (_, i) => (seen.data[2 * i]! << 8) | seen.data[2 * i + 1]!);
        assert.deepEqual(sizes, payloads.slice(0, 50).map((p) => p.length));
        assert.ok(flushes >= 1);
      }),
    );
  });
}
