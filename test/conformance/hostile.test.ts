/**
 * Hostile and dying peers: an endless line, slowloris, connect-and-reset floods, and
 * a peer process killed mid-transfer. Limits and deadlines hold; nothing crashes.
 */
import assert from "node:assert/strict";
import { ConnectionResetError, LimitExceededError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, openPair, rejection, SIDES, sleep, text, within, withPair } from "../support/fixtures.ts";
import { destroyNative } from "../support/native.ts";
import { withPeer } from "../support/peer.ts";
import { hangup, runtime } from "../support/runtime.ts";

/** The most one read delivers: Node's read size is 64 KiB, hangup's on Deno 128 KiB once reads fill 64 KiB; Bun reads up to 512 KiB at once. */
const MAX_CHUNK = runtime === "bun" ? 512 * 1024 : runtime === "deno" ? 128 * 1024 : 64 * 1024;

for (const side of SIDES) {
  describe(`hostile peers (hangup as ${side})`, () => {
    test(
      "a 1 GiB line against lines({ maxBytes: 65536 }): LimitExceededError with at most maxBytes + one chunk buffered",
      withPair(side, async ({ conn, peer, remote }) => {
        const sending = peer.send(remote, { size: 1 << 30, fill: 0x61, chunk: 1 << 20 }).catch(() => undefined);
        const err = await rejection((async () => {
          for await (const line of conn.lines({ maxBytes: 65536 })) throw new Error(`unexpected line of ${line.length}`);
        })());
        assert.ok(err instanceof LimitExceededError, `got ${String(err)}`);
        await sleep(200);
        const { buffered, native } = conn.unwrap();
        assert.ok(buffered.length <= 65536 + 2 + MAX_CHUNK, `buffered ${buffered.length} bytes, more than maxBytes + one chunk`);
        const sent = await peer.sentSoFar(remote);
        assert.ok(sent < 64 << 20, `the peer should be stalled, but sent ${sent} bytes`);
        destroyNative(native);
        await sending;
      }),
      { timeout: 30_000 },
    );

    test(
      "slowloris: a byte every 400 ms stays inside idleTimeout, and a per-request deadline cuts it",
      withPair(side, async ({ conn, peer, remote }) => {
        const dripping = peer.drip(remote, { text: "GET /slow HTTP/1.1\r\nHost: x\r\n", intervalMs: 400 }).catch(() => undefined);
        const started = Date.now();
        const err = await rejection(conn.readUntil("\r\n\r\n", { signal: AbortSignal.timeout(2000) }));
        const elapsed = Date.now() - started;
        assert.equal((err as Error).name, "TimeoutError");
        assert.ok(elapsed >= 1800 && elapsed < 4000, `deadline hit after ${elapsed} ms`);
        assert.equal(conn.signal.aborted, false, "the idle timeout did not fire: the drip kept it fed");
        await conn.close();
        assert.equal((await conn.ended).reason, "local");
        const seen = await peer.recv(remote, { timeoutMs: 3000 });
        assert.ok(seen.end === "eof" || seen.end === "reset", `the peer sees the close, got ${seen.end}`);
        await dripping;
      }, { idleTimeout: 1000 }),
      { timeout: 20_000 },
    );
  });
}

describe(`connect-and-reset flood (${runtime})`, () => {
  test(
    "10,000 connect-then-RST clients while a good client keeps getting answers; maxConnections is never exceeded",
    () =>
      withPeer(async (peer) => {
        const MAX = 50;
        let active = 0;
        let peak = 0;
        const failures: unknown[] = [];
        const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, backlog: 1024 });
        const port = listener.addr.port;
        const stop = new AbortController();
        const serving = hangup.serve(listener, async (conn) => {
          active++;
          peak = Math.max(peak, active);
          try {
            const line = await conn.readUntil("\n", { signal: AbortSignal.timeout(5000) });
            if (line !== null) await conn.write("pong\n");
          } finally {
            active--;
          }
        }, {
          signal: stop.signal,
          maxConnections: MAX,
          onError: (err) => void (err instanceof ConnectionResetError || failures.push(err)),
        });

        const flooding = peer.command("flood", { port, count: 10_000, threads: 8 });
        let answered = 0;
        let flooded: Record<string, unknown> | undefined;
        void flooding.then((r) => (flooded = r));
        for (let i = 0; i < 400 && (flooded === undefined || answered < 5); i++) {
          const client = await hangup.connect({ port, timeout: 5000 });
          try {
            await client.write("ping\n");
            const reply = await client.readUntil("\n", { signal: AbortSignal.timeout(5000) });
            if (text(reply) === "pong\n") answered++;
          } catch {
            // Turned away while maxConnections was reached: closed at once, by design.
          } finally {
            client.reset();
          }
          await sleep(20);
        }
        const result = await flooding;
        stop.abort();
        await serving;
        assert.ok(
          (result.connected as number) >= 9_900,
          `the flood connected ${String(result.connected)} times: ${JSON.stringify(result.errors)}`,
        );
        assert.ok(answered >= 5, `the good client was answered ${answered} times during the flood`);
        assert.ok(peak <= MAX, `${peak} handlers ran at once, over maxConnections ${MAX}`);
        assert.deepEqual(failures, []);
      }),
    { timeout: 90_000 },
  );
});

for (const side of SIDES) {
  describe(`the peer process is killed mid-transfer (hangup as ${side})`, () => {
    test("with nothing unread on its side: the kernel sends FIN, the loop ends after the bytes", () =>
      withPeer(async (peer) => {
        const { conn, remote } = await openPair(peer, side);
        void peer.send(remote, { size: 8 << 20 }).catch(() => undefined);
        const first = await conn.read();
        assert.ok(first !== null && first.length > 0);
        peer.kill();
        await within(10_000, collect(conn), "the loop ends after the kill");
        assert.equal((await conn.ended).reason, "eof");
        await conn.close();
      }), { timeout: 20_000 });

    test("with bytes it never read: the kernel sends RST, the loop throws ConnectionResetError", () =>
      withPeer(async (peer) => {
        const { conn, remote } = await openPair(peer, side);
        await conn.write("unread by the peer");
        await peer.send(remote, { text: "hello" });
        assert.equal(text(await conn.read()), "hello");
        await sleep(50);
        peer.kill();
        const err = await within(10_000, rejection(collect(conn)), "the loop throws after the kill");
        assert.ok(err instanceof ConnectionResetError, `got ${String(err)}`);
        assert.equal((await conn.ended).reason, "reset");
        conn.reset();
      }), { timeout: 20_000 });
  });
}
