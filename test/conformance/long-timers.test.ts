/**
 * Every millisecond option works at any value it accepts: `setTimeout` fires at once for delays
 * above 2^31−1 ms on every runtime, so hangup waits those out in steps. Bad arguments to the
 * public functions throw a TypeError or RangeError naming the argument.
 */
import assert from "node:assert/strict";
import { createConn, fromStreams } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { rejection, sleep, withPair } from "../support/fixtures.ts";
import { withPeer } from "../support/peer.ts";
import { hangup } from "../support/runtime.ts";

/** Longer than any `setTimeout` honours (2^31−1 ms). */
const BEYOND_TIMERS = 2 ** 31;

/**
 * How many long timers (over a million ms) were set during `ms` of wall time. A delay above
 * 2^31−1 ms passed to `setTimeout` fires at once, so a timer that re-arms itself that way sets
 * one after another: a spin. Short timers (the runners', the harness's) are not counted.
 */
async function longTimersSetDuring(ms: number): Promise<number> {
  const original = globalThis.setTimeout;
  let count = 0;
  globalThis.setTimeout = ((handler: Parameters<typeof setTimeout>[0], delay?: number, ...rest: unknown[]) => {
    if (typeof delay === "number" && delay > 1e6) count++;
    return original(handler, delay, ...rest);
  }) as typeof setTimeout;
  try {
    await new Promise((resolve) => original(resolve, ms));
  } finally {
    globalThis.setTimeout = original;
  }
  return count;
}

describe("millisecond options above 2^31−1 ms", () => {
  test("connect timeout: the attempt waits instead of timing out at once", () =>
    withPeer(async (peer) => {
      // A listener whose accept queue is full drops new SYNs: the handshake never completes.
      const { port } = await peer.command("listen", { backlog: 0 }) as { port: number };
      await Promise.allSettled([1, 2, 3].map(() => peer.command("connect", { port, timeout_ms: 500 })));
      const stop = new AbortController();
      const attempt = hangup.connect({ port, timeout: BEYOND_TIMERS, signal: stop.signal }).then(() => "connected", (err: unknown) => err);
      const early = await Promise.race([attempt, sleep(500).then(() => "pending")]);
      assert.equal(early, "pending", `settled early with ${String(early)}`);
      const reason = new Error("done waiting");
      stop.abort(reason);
      assert.equal(await attempt, reason);
    }), { timeout: 20_000 });

  test("idleTimeout on 50 connections: none times out, and their timers do not spin", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, idleTimeout: 1e10 });
      const port = listener.addr.transport === "tcp" ? listener.addr.port : 0;
      const conns = [];
      for (let i = 0; i < 50; i++) {
        const [, conn] = await Promise.all([peer.connect({ port }), listener.accept()]);
        conns.push(conn!);
      }
      await listener.close();
      try {
        const timers = await longTimersSetDuring(500);
        assert.ok(timers < 50, `${timers} long timers were set in 500 ms while idle`);
        for (const conn of conns) {
          const state = await Promise.race([conn.ended.then((info) => info.reason), sleep(0).then(() => "open")]);
          assert.equal(state, "open");
        }
      } finally {
        for (const conn of conns) conn.reset();
      }
    }), { timeout: 20_000 });

  test(
    "heartbeat interval: no beat is written early, and its timer does not spin",
    withPair("server", async ({ peer, remote }) => {
      const timers = await longTimersSetDuring(500);
      assert.ok(timers < 20, `${timers} long timers were set in 500 ms`);
      const seen = await peer.recv(remote, { timeoutMs: 200 });
      assert.equal(seen.length, 0, "no heartbeat was written");
    }, { heartbeat: { interval: BEYOND_TIMERS, message: "PING\n" } }),
  );

  test(
    "writeTimeout: a stalled write is not timed out early",
    withPair(
      "server",
      async ({ conn }) => {
        let settled = false;
        const writing = conn.write(new Uint8Array(64 << 20)).finally(() => (settled = true));
        writing.catch(() => {});
        await sleep(600);
        assert.equal(settled, false);
      },
      { writeTimeout: BEYOND_TIMERS },
      { rcvbuf: 4096 },
    ),
  );

  test("serve drainTimeout: running handlers are not reset early", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      const stop = new AbortController();
      let ended: string | undefined;
      const serving = hangup.serve(listener, async (conn) => {
        ended = (await conn.ended).reason;
      }, { signal: stop.signal, drainTimeout: BEYOND_TIMERS });
      const remote = await peer.connect({ port: listener.addr.transport === "tcp" ? listener.addr.port : 0 });
      await sleep(100);
      stop.abort();
      await sleep(500);
      assert.equal(ended, undefined, "the handler's connection was left alone");
      await peer.fin(remote);
      await serving;
      assert.equal(ended, "eof");
    }));
});

describe("bad arguments", () => {
  test("serve() names the bad listener, handler or option", async () => {
    const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const cases: Array<[() => Promise<void>, typeof TypeError | typeof RangeError, RegExp]> = [
        [() => hangup.serve(null as never, () => {}), TypeError, /^listener must be a Listener/],
        [() => hangup.serve({} as never, () => {}), TypeError, /^listener must be a Listener/],
        [() => hangup.serve(listener, null as never), TypeError, /^handler must be a function/],
        [() => hangup.serve(listener, () => {}, { drainTimeout: Infinity }), RangeError, /^drainTimeout/],
        [() => hangup.serve(listener, () => {}, { writeTimeout: -1 } as never), RangeError, /^writeTimeout/],
      ];
      for (const [call, ErrorClass, message] of cases) {
        const err = await rejection(call());
        assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${String(err)}`);
        assert.match((err as Error).message, message);
      }
    } finally {
      await listener.close();
    }
  });

  test("connect() and listen() refuse a bad writeTimeout", async () => {
    for (const [value, ErrorClass] of [[-1, RangeError], [Infinity, RangeError], ["5s", TypeError]] as const) {
      const c = await rejection(hangup.connect({ port: 80, writeTimeout: value as never }));
      assert.ok(c instanceof ErrorClass && /^writeTimeout/.test(c.message), `connect: ${String(c)}`);
      const l = await rejection(hangup.listen({ port: 0, writeTimeout: value as never }));
      assert.ok(l instanceof ErrorClass && /^writeTimeout/.test(l.message), `listen: ${String(l)}`);
    }
  });

  test("createConn() and fromStreams() name what they were given instead of a source", async () => {
    assert.throws(
      () => createConn(null as never),
      (err: unknown) => err instanceof TypeError && /^source must be a ConnSource/.test(err.message),
    );
    assert.throws(
      () => createConn({} as never),
      (err: unknown) => err instanceof TypeError && /^source must be a ConnSource/.test(err.message),
    );
    assert.throws(
      () => fromStreams(null as never),
      (err: unknown) => err instanceof TypeError && /^streams must be an object/.test(err.message),
    );
  });

  test("wrap() names a native socket it cannot take", async () => {
    assert.equal(typeof hangup.wrap, "function", "every adapter that can listen has wrap()");
    for (const bad of [null, undefined, {}, 42]) {
      assert.throws(() => hangup.wrap!(bad), (err: unknown) => err instanceof TypeError && /native/.test(err.message));
    }
  });
});
