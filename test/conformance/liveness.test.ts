/** Liveness options over real sockets: idleTimeout, heartbeat, keepAlive, noDelay. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { IdleTimeoutError } from "../../src/index.ts";
import type { Addr } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, rejection, SIDES, sleep, text, within, withPair } from "../support/fixtures.ts";
import { sha256 } from "../support/peer.ts";
import { capabilities } from "../support/runtime.ts";

const HEARTBEAT = "<3\n";
const BIG_HEARTBEAT = new Uint8Array(65536).fill(0x2a);

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** The kernel's keepalive timer of our socket, in seconds, from `ss`; undefined when none runs. */
function keepAliveSeconds(local: Addr): number | undefined {
  if (local.transport !== "tcp") throw new TypeError("keepalive is a TCP timer");
  const port = local.port;
  const out = execFileSync("ss", ["-tnoH", "state", "established", `( sport = :${port} )`], { encoding: "utf8" });
  const timer = /timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:\.\d+)?sec)?(?:(\d+)ms)?/.exec(out);
  if (!timer) return undefined;
  return Number(timer[1] ?? 0) * 60 + Number(timer[2] ?? 0) + Number(timer[3] ?? 0) / 1000;
}

for (const side of SIDES) {
  describe(`idleTimeout (hangup as ${side})`, () => {
    test(
      "a silent peer: ended is idle within the bound, reads get the buffered bytes then IdleTimeoutError, the connection closes",
      withPair(side, async ({ conn, peer, remote }) => {
        await peer.send(remote, { text: "abc" });
        const started = Date.now();
        const info = await within(5000, conn.ended, "ended after the idle timeout");
        const elapsed = Date.now() - started;
        assert.equal(info.reason, "idle");
        assert.ok(info.error instanceof IdleTimeoutError);
        assert.equal(info.error.code, "ERR_IDLE_TIMEOUT");
        assert.ok(elapsed >= 200 && elapsed < 2000, `idle reported after ${elapsed} ms, expected about 300`);
        assert.equal(conn.signal.reason, info.error);
        assert.equal(text(await conn.read()), "abc");
        const err = await rejection(conn.read());
        assert.ok(err instanceof IdleTimeoutError, `got ${String(err)}`);
        await within(5000, conn.closed, "closed after the idle timeout");
        const seen = await peer.recv(remote, { timeoutMs: 3000 });
        assert.ok(seen.end === "eof" || seen.end === "reset", `the peer sees the close, got ${seen.end}`);
      }, { idleTimeout: 300 }),
    );

    test(
      "a peer that drips inside the timeout is not idle; when it falls silent, it is",
      withPair(side, async ({ conn, peer, remote }) => {
        const dripping = peer.drip(remote, { text: "x".repeat(16), intervalMs: 60 });
        const got: Uint8Array[] = [];
        let bytes = 0;
        while (bytes < 16) {
          const chunk = await conn.read();
          assert.ok(chunk !== null);
          got.push(chunk);
          bytes += chunk.length;
        }
        await dripping;
        const info = await within(3000, conn.ended, "idle after the drip stopped");
        assert.equal(info.reason, "idle");
      }, { idleTimeout: 400 }),
    );

    test(
      "time paused by our own backpressure does not count as idle",
      withPair(side, async ({ conn, peer, remote }) => {
        const sending = peer.send(remote, { size: 4 << 20, then: "fin" });
        await sleep(1000);
        const received = await collect(conn);
        const sent = await sending;
        assert.equal(sha256(received), sent.sha256);
        assert.equal((await conn.ended).reason, "eof");
      }, { idleTimeout: 300, highWaterMark: 16384 }),
      { timeout: 30_000 },
    );
  });

  describe(`heartbeat (hangup as ${side})`, () => {
    test(
      "the peer sees the message every interval while we write nothing",
      withPair(side, async ({ peer, remote }) => {
        const seen = await peer.recv(remote, { timeoutMs: 560 });
        const beats = count(text(seen.data), HEARTBEAT);
        assert.equal(text(seen.data), HEARTBEAT.repeat(beats), "only heartbeats on the wire");
        assert.ok(beats >= 3 && beats <= 6, `expected about 5 heartbeats in 560 ms at 100 ms, saw ${beats}`);
      }, { heartbeat: { interval: 100, message: HEARTBEAT } }),
    );

    test(
      "no heartbeat while the application writes more often than the interval",
      withPair(side, async ({ conn, peer, remote }) => {
        const receiving = peer.recv(remote, { timeoutMs: 700 });
        for (let i = 0; i < 12; i++) {
          await conn.write("data\n");
          await sleep(40);
        }
        const seen = text((await receiving).data);
        const whileWriting = seen.slice(0, seen.lastIndexOf("data\n"));
        assert.equal(count(whileWriting, HEARTBEAT), 0, `saw heartbeats between writes: ${JSON.stringify(seen)}`);
        assert.equal(count(seen, "data\n"), 12);
      }, { heartbeat: { interval: 150, message: HEARTBEAT } }),
    );

    test(
      "heartbeats stop at close: the peer sees a few, then EOF and nothing after",
      withPair(side, async ({ conn, peer, remote }) => {
        await sleep(250);
        await conn.close();
        const seen = await peer.recv(remote, { timeoutMs: 2000 });
        assert.equal(seen.end, "eof");
        const beats = count(text(seen.data), HEARTBEAT);
        assert.ok(beats >= 1 && beats <= 3, `expected 2 heartbeats before close, saw ${beats}`);
      }, { heartbeat: { interval: 100, message: HEARTBEAT } }),
    );

    test(
      "a peer that reads nothing: heartbeats do not pile up behind the ones the kernel cannot take",
      withPair(side, async ({ conn, peer, remote }) => {
        // 64 KiB every 5 ms for 1.5 s is 300 messages, 19 MiB: far more than the kernel's buffers
        // hold. Once they are full, no heartbeat is added until what waits has gone.
        await sleep(1500);
        // Closing stops the heartbeats: what the peer then reads to the end is all that waited.
        const closing = conn.close();
        const seen = await peer.recv(remote, { timeoutMs: 10_000 });
        await closing;
        assert.equal(seen.end, "eof");
        const beats = seen.length / BIG_HEARTBEAT.length;
        assert.equal(seen.length % BIG_HEARTBEAT.length, 0, "whole messages only");
        assert.ok(beats < 150, `the peer got ${beats} heartbeats (${seen.length} bytes)`);
      }, { heartbeat: { interval: 5, message: BIG_HEARTBEAT } }),
    );

    test(
      "a peer that resets while heartbeats run: the typed reset, closed, nothing unhandled",
      withPair(side, async ({ conn, peer, remote }) => {
        await sleep(150);
        await peer.rst(remote);
        const info = await within(3000, conn.ended, "ended after the reset");
        assert.equal(info.reason, "reset");
        await within(3000, conn.closed, "closed after the reset");
        await sleep(250);
      }, { heartbeat: { interval: 50, message: HEARTBEAT } }),
    );
  });

  describe(`keepAlive and noDelay (hangup as ${side})`, () => {
    test(
      "keepAlive sets the kernel's keepalive timer (Deno: on, with the kernel's delay)",
      withPair(side, async ({ conn }) => {
        const seconds = keepAliveSeconds(conn.localAddr);
        assert.ok(seconds !== undefined, "no keepalive timer on the socket");
        if (!capabilities.keepAliveDelay) assert.ok(seconds > 60, `Deno cannot set the delay, so the kernel's applies; got ${seconds} s`);
        else assert.ok(seconds > 20 && seconds <= 30, `expected a keepalive timer of about 30 s, got ${seconds} s`);
      }, { keepAlive: 30_000 }),
    );

    test(
      "keepAlive: false leaves no keepalive timer",
      withPair(side, async ({ conn }) => {
        assert.equal(keepAliveSeconds(conn.localAddr), undefined);
      }, { keepAlive: false }),
    );

    // Two small writes in a row: with Nagle's algorithm the second waits for the
    // peer's delayed ACK (about 40 ms on Linux); with TCP_NODELAY it goes at once.
    for (const noDelay of [true, false]) {
      test(
        `noDelay: ${noDelay} ${noDelay ? "sends a small write at once" : "lets Nagle hold it for the ACK"}`,
        withPair(side, async ({ conn, peer, remote }) => {
          const times: number[] = [];
          for (let i = 0; i < 9; i++) {
            const started = performance.now();
            const receiving = peer.recv(remote, { count: 2 });
            await conn.write("a");
            await conn.write("b");
            assert.equal(text((await receiving).data), "ab");
            times.push(performance.now() - started);
            // The reply makes the exchange interactive, which is when the peer delays its ACKs.
            await peer.send(remote, { text: "k" });
            assert.equal(text(await conn.read()), "k");
          }
          const median = times.sort((a, b) => a - b)[4]!;
          if (noDelay) assert.ok(median < 20, `with noDelay the median round trip should be well under 40 ms, got ${median.toFixed(1)} ms`);
          else assert.ok(median >= 20, `without noDelay Nagle should hold the second byte for the ACK, got ${median.toFixed(1)} ms`);
        }, { noDelay }),
      );
    }
  });
}
