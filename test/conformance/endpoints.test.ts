/** connect/listen: errors, bad options, Unix sockets. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AddressInUseError, ConnectionRefusedError, SocketError, TimedOutError } from "../../src/index.ts";
import { countedSignal } from "../support/counted-signal.ts";
import { describe, test } from "../support/harness.ts";
import { collect, rejection, sleep, text, within } from "../support/fixtures.ts";
import { sha256, withPeer } from "../support/peer.ts";
import { capabilities, hangup } from "../support/runtime.ts";

function withTempDir(body: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "hangup-"));
    try {
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** A port nothing listens on: bound, then released. */
async function freePort(): Promise<number> {
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  await listener.close();
  return port;
}

describe("connect", () => {
  test("to a port nothing listens on rejects with ConnectionRefusedError, saying where, with the caller's stack", async () => {
    const port = await freePort();
    async function connectToTheDatabase(): Promise<unknown> {
      return await hangup.connect({ port });
    }
    const err = await rejection(connectToTheDatabase());
    assert.ok(err instanceof ConnectionRefusedError, `got ${String(err)}`);
    assert.equal(err.code, "ECONNREFUSED");
    assert.equal(err.message, `Cannot connect to 127.0.0.1:${port}: connection refused`);
    assert.match(err.stack ?? "", /connectToTheDatabase/, "the stack leads to the caller, not a runtime callback");
    assert.ok(err.cause !== undefined, "the runtime's error is the cause");
  });

  test("that cannot complete rejects with TimedOutError after `timeout` ms, or signal.reason on abort", () =>
    withPeer(async (peer) => {
      // A listener whose accept queue is full drops new SYNs: the handshake never completes.
      const { port } = await peer.listen({ backlog: 0 });
      const fillers = await Promise.allSettled([1, 2, 3].map(() => peer.command("connect", { port, timeout_ms: 500 })));
      assert.ok(fillers.some((f) => f.status === "fulfilled"), "the accept queue was filled");
      const started = Date.now();
      const err = await rejection(hangup.connect({ port, timeout: 300 }));
      assert.ok(err instanceof TimedOutError, `got ${String(err)}`);
      assert.equal(err.code, "ETIMEDOUT");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 5000, `timed out after ${elapsed} ms`);
      const reason = new Error("gave up");
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 100);
      assert.equal(await rejection(hangup.connect({ port, signal: controller.signal })), reason);
      // A reason that is itself a SocketError is the caller's own too: not renamed, not re-stacked.
      const pool = new TimedOutError("Cannot connect: the pool gave up waiting");
      const stack = pool.stack;
      const poolController = new AbortController();
      setTimeout(() => poolController.abort(pool), 100);
      assert.equal(await rejection(hangup.connect({ port, signal: poolController.signal })), pool);
      assert.equal(pool.message, "Cannot connect: the pool gave up waiting");
      assert.equal(pool.stack, stack);
    }), { timeout: 20_000 });

  test("with a signal already aborted rejects with its reason and never dials (a reconnect loop after shutdown must not reach the server)", async () => {
    const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const reason = new Error("pool closed");
      for (let i = 0; i < 3; i++) {
        assert.equal(await rejection(hangup.connect({ port: listener.addr.port, signal: AbortSignal.abort(reason) })), reason);
      }
      const none = await rejection(listener.accept({ signal: AbortSignal.timeout(300) }));
      assert.equal((none as Error).name, "TimeoutError", "no connection reached the listener");
    } finally {
      await listener.close();
    }
  });

  test("bad options throw TypeError or RangeError naming the option", async () => {
    const cases: Array<[unknown, typeof TypeError | typeof RangeError, RegExp]> = [
      [undefined, TypeError, /options/],
      [{ port: "80" }, TypeError, /port/],
      [{ port: 70000 }, RangeError, /port/],
      [{ port: 0 }, RangeError, /port/],
      [{ port: 80, hostname: 7 }, TypeError, /hostname/],
      [{ port: 80, hostname: "127.0.0.1:80" }, TypeError, /^hostname must not include a port, got "127\.0\.0\.1:80"/],
      [{ port: 80, hostname: " 127.0.0.1" }, TypeError, /^hostname must not contain spaces/],
      [{ port: 80, hostname: "[::1]:6379" }, TypeError, /^hostname must not include a port/],
      [{ port: 80, timeout: -5 }, RangeError, /timeout/],
      [{ port: 80, idleTimeout: -1 }, RangeError, /idleTimeout/],
      [{ port: 80, highWaterMark: 0 }, RangeError, /highWaterMark/],
      [{ port: 80, noDelay: "yes" }, TypeError, /noDelay/],
      [{ port: 80, keepAlive: "on" }, TypeError, /keepAlive/],
      [{ port: 80, signal: {} }, TypeError, /signal/],
      [{ port: 80, heartbeat: { interval: 0, message: "x" } }, RangeError, /heartbeat.interval/],
      [{ path: "" }, TypeError, /path/],
      // A misspelt option is refused, not silently ignored (the connection would lack it).
      [{ port: 80, idletimeout: 5000 }, TypeError, /^options\.idletimeout is not an option of connect: did you mean idleTimeout\?$/],
      [
        { port: 80, backlog: 5 },
        TypeError,
        /^options\.backlog is not an option of connect \(it has hostname, port, path, timeout, tls, idleTimeout/,
      ],
    ];
    for (const [options, ErrorClass, message] of cases) {
      const err = await rejection(hangup.connect(options as never));
      assert.ok(err instanceof ErrorClass, `${JSON.stringify(options)}: expected ${ErrorClass.name}, got ${String(err)}`);
      assert.match((err as Error).message, message, JSON.stringify(options));
    }
  });

  test(
    "to a Unix socket path that does not exist rejects with a SocketError carrying the OS code",
    withTempDir(async (dir) => {
      const err = await rejection(hangup.connect({ path: join(dir, "nobody.sock") }));
      assert.ok(err instanceof SocketError, `got ${String(err)}`);
      assert.equal(err.code, "ENOENT");
    }),
  );

  test("an IPv6 address in brackets, as URL.hostname gives it, is taken on every runtime", async () => {
    const listener = await hangup.listen({ hostname: "[::1]", port: 0 });
    try {
      assert.deepEqual(listener.addr, { transport: "tcp", hostname: "::1", port: listener.addr.port });
      const url = new URL(`redis://[::1]:${listener.addr.port}`);
      const [conn, accepted] = await Promise.all([hangup.connect({ hostname: url.hostname, port: Number(url.port) }), listener.accept()]);
      assert.equal(conn.remoteAddr.transport === "tcp" && conn.remoteAddr.hostname, "::1");
      conn.reset();
      accepted!.reset();
    } finally {
      await listener.close();
    }
  });

  test("a name no resolver could find (a bad character) rejects with ENOTFOUND on every runtime", async () => {
    const err = await rejection(hangup.connect({ hostname: "no*such!host", port: 7000, timeout: 10_000 }));
    assert.ok(err instanceof SocketError, `got ${String(err)}`);
    assert.equal(err.code, "ENOTFOUND", `got ${err.code}: ${err.message}`);
  });

  test("to a name that does not resolve rejects with a SocketError coded ENOTFOUND on every runtime", async () => {
    // `.invalid` never resolves (RFC 6761): the resolver answers at once, also offline.
    const started = Date.now();
    const err = await rejection(hangup.connect({ hostname: "no-such-host.invalid", port: 7000, timeout: 10_000 }));
    assert.ok(err instanceof SocketError, `got ${String(err)}`);
    assert.equal(err.code, "ENOTFOUND", `got ${err.code}: ${err.message}`);
    assert.equal(err.message, "Cannot connect to no-such-host.invalid:7000: host not found");
    assert.ok(err.cause !== undefined, "the runtime's error is the cause");
    assert.ok(Date.now() - started < 9_000, "failed by the resolver, not by the timeout");
  });
});

describe("listen", () => {
  test("port 0 gives an ephemeral port, reported by addr", async () => {
    const listener = await hangup.listen({ hostname: "127.0.0.1" });
    try {
      assert.equal(listener.addr.transport, "tcp");
      const { hostname, port } = listener.addr;
      assert.equal(hostname, "127.0.0.1");
      assert.ok(port > 0);
    } finally {
      await listener.close();
    }
  });

  test("a name is resolved: addr gives the address bound to, not the name", async () => {
    const listener = await hangup.listen({ hostname: "localhost", port: 0 });
    try {
      assert.ok(["127.0.0.1", "::1"].includes(listener.addr.hostname), `addr.hostname is ${listener.addr.hostname}`);
    } finally {
      await listener.close();
    }
  });

  test("on a name that does not resolve rejects with a SocketError coded ENOTFOUND on every runtime", async () => {
    const err = await rejection(hangup.listen({ hostname: "no-such-host.invalid", port: 0 }));
    assert.ok(err instanceof SocketError, `got ${String(err)}`);
    assert.equal(err.code, "ENOTFOUND", `got ${err.code}: ${err.message}`);
    assert.equal(err.message, "Cannot listen on no-such-host.invalid:0: host not found");
    assert.ok(err.cause !== undefined, "the runtime's error is the cause");
  });

  test("close(): a client that connected and was never accepted is reset (Deno, which cannot reset: a FIN)", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      const accepted = listener.accept();
      const first = await peer.connect({ port: listener.addr.port });
      const conn = await accepted;
      // Two more clients, each with a request the server never reads: the application never accepts them.
      const waiting = [await peer.connect({ port: listener.addr.port }), await peer.connect({ port: listener.addr.port })];
      for (const client of waiting) await peer.send(client, { text: "request\n" });
      await sleep(100);
      await listener.close();
      // Closing the listener is no answer: the client sees a reset where the runtime can send one.
      // Deno's accept loop took these clients from the backlog (so their bytes survive a reset
      // before the accept), and Deno can only close them: the documented FIN.
      for (const client of waiting) {
        const seen = await peer.recv(client, { timeoutMs: 5000 });
        assert.equal(seen.end, capabilities.reset ? "reset" : "eof");
      }
      // The connection the application accepted is untouched.
      await conn!.write("still here");
      assert.equal(text((await peer.recv(first, { count: 10 })).data), "still here");
      await conn!.close();
    }));

  test("on a taken address rejects with AddressInUseError", async () => {
    const first = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const err = await rejection(hangup.listen({ hostname: "127.0.0.1", port: first.addr.port }));
      assert.ok(err instanceof AddressInUseError, `got ${String(err)}`);
      assert.equal(err.code, "EADDRINUSE");
    } finally {
      await first.close();
    }
  });

  test("bad options throw TypeError or RangeError naming the option", async () => {
    for (
      const [options, ErrorClass, message] of [
        [{ port: -1 }, RangeError, /port/],
        [{ port: 1.5 }, RangeError, /port/],
        [{ backlog: 0 }, RangeError, /backlog/],
        [{ idleTimeout: "soon" }, TypeError, /idleTimeout/],
        [7, TypeError, /options/],
        [{ port: 0, timeout: 1000 }, TypeError, /^options\.timeout is not an option of listen \(it has hostname, port, path, backlog, tls/],
        [{ port: 0, highwatermark: 1 }, TypeError, /^options\.highwatermark is not an option of listen: did you mean highWaterMark\?$/],
      ] as const
    ) {
      const err = await rejection(hangup.listen(options as never));
      assert.ok(err instanceof ErrorClass, `${JSON.stringify(options)}: got ${String(err)}`);
      assert.match((err as Error).message, message);
    }
  });

  test("close() ends iteration and pending accept(), leaves accepted connections alone, and is idempotent", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const [remote, conn] = await Promise.all([peer.connect({ port }), listener.accept()]);
      const pending = listener.accept();
      await Promise.all([listener.close(), listener.close()]);
      assert.equal(await pending, null);
      assert.equal(await listener.accept(), null);
      await peer.send(remote, { text: "still connected", then: "fin" });
      assert.equal(text(await collect(conn!)), "still connected");
      await conn!.close();
    }));

  test("a client that connects and resets before it is accepted does not break the loop", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      try {
        for (let i = 0; i < 20; i++) await peer.rst(await peer.connect({ port }));
        const good = await peer.connect({ port });
        await peer.send(good, { text: "good client", then: "fin" });
        let answered = false;
        for (let i = 0; i < 25 && !answered; i++) {
          const conn = (await listener.accept())!;
          const body = await collect(conn).then(text, () => "");
          if (body === "good client") {
            answered = true;
            await conn.write("welcome");
          }
          await conn.close();
        }
        assert.ok(answered, "the good client was accepted after the resets");
        assert.equal(text((await peer.recv(good)).data), "welcome");
      } finally {
        await listener.close();
      }
    }));
});

describe("one signal for many connections", () => {
  test("50 connections sharing a shutdown signal add one abort listener to it (Node 20 warns past 10), and its abort ends them all", async () => {
    const { controller: shutdown, listeners, most } = countedSignal();
    const signal = shutdown.signal;
    const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, signal });
    try {
      const clients = await Promise.all(
        Array.from({ length: 50 }, () => hangup.connect({ port: listener.addr.port, signal, timeout: 10_000 })),
      );
      const pairs = [];
      for (const client of clients) pairs.push([client, await listener.accept()] as const);
      // The listener's own and the connections' (clients and accepted alike): one each way, not one per connection.
      assert.ok(most() <= 2, `${most()} abort listeners on one signal at once`);
      assert.ok(listeners() >= 1, "the connections still watch it");
      const reason = new Error("shutdown");
      shutdown.abort(reason);
      for (const [client, accepted] of pairs) {
        assert.equal(await rejection(client.read()), reason);
        assert.equal(await rejection(accepted!.read()), reason);
      }
    } finally {
      await listener.close();
    }
  });
});

describe("Unix sockets", () => {
  test(
    "hangup as server: bytes and checksum round trip, then EOF",
    withTempDir(async (dir) => {
      const path = join(dir, "server.sock");
      const listener = await hangup.listen({ path });
      try {
        assert.deepEqual(listener.addr, { transport: "unix", path });
        await withPeer(async (peer) => {
          const [remote, conn] = await Promise.all([peer.connect({ path }), listener.accept()]);
          // The client's end is unnamed, as the kernel reports it.
          assert.deepEqual(conn!.localAddr, { transport: "unix", path });
          assert.deepEqual(conn!.remoteAddr, { transport: "unix", path: "" });
          const [sent, received] = await Promise.all([peer.send(remote, { size: 256 * 1024, then: "fin" }), collect(conn!)]);
          assert.equal(sha256(received), sent.sha256);
          await conn!.write("ok");
          await conn!.close();
          assert.equal(text((await peer.recv(remote)).data), "ok");
        });
      } finally {
        await listener.close();
      }
    }),
  );

  test(
    "hangup as client: bytes round trip, and reset() closes",
    withTempDir(async (dir) => {
      const path = join(dir, "peer.sock");
      await withPeer(async (peer) => {
        const { listener } = await peer.listen({ path });
        const [conn, remote] = await Promise.all([hangup.connect({ path }), peer.accept(listener)]);
        assert.deepEqual(conn.remoteAddr, { transport: "unix", path });
        assert.deepEqual(conn.localAddr, { transport: "unix", path: "" });
        await conn.write("over unix");
        await conn.closeWrite();
        const seen = await peer.recv(remote);
        assert.equal(text(seen.data), "over unix");
        assert.equal(seen.end, "eof");
        conn.reset();
        await conn.closed;
      });
    }),
  );

  test(
    "listening in a directory that does not exist rejects with SocketError ENOENT (Node says EACCES), never 'permission denied'",
    withTempDir(async (dir) => {
      const path = join(dir, "missing", "app.sock");
      const err = await rejection(hangup.listen({ path }));
      assert.ok(err instanceof SocketError, `got ${String(err)}`);
      assert.equal(err.code, "ENOENT");
      assert.equal(err.message, `Cannot listen on ${path}: no such directory for the socket`);
    }),
  );

  test(
    "a path longer than the OS takes is refused with SocketError EINVAL, never cut short",
    withTempDir(async (dir) => {
      // Node would bind (or connect to) the path cut at 107 bytes, and report the full one.
      const path = join(dir, `${"x".repeat(140)}.sock`);
      for (const attempt of [() => hangup.listen({ path }), () => hangup.connect({ path })]) {
        const err = await rejection(attempt());
        assert.ok(err instanceof SocketError, `got ${String(err)}`);
        assert.equal(err.code, "EINVAL");
        assert.match(
          err.message,
          /^Cannot (listen on|connect to) \/\S+\.sock: path must be shorter than SUN_LEN: \d+ bytes, at most 10[37]$/,
        );
      }
      assert.deepEqual(readdirSync(dir), [], "no socket file left");
    }),
  );
});

describe("a Unix listener's socket file", () => {
  test(
    "close() removes it, and never the file of a listener bound at the path meanwhile (a restart in place)",
    withTempDir(async (dir) => {
      const path = join(dir, "restart.sock");
      const first = await hangup.listen({ path });
      await first.close();
      assert.equal(existsSync(path), false, "the file is gone once close() resolved");

      const old = await hangup.listen({ path });
      // Enough clients to fill its accept queue: its accept loop pauses, so no accept is pending.
      const clients = await Promise.all(Array.from({ length: 130 }, () => hangup.connect({ path }).catch(() => undefined)));
      await sleep(200);
      const closing = old.close();
      let fresh: Awaited<ReturnType<typeof hangup.listen>> | undefined;
      for (let tries = 0; fresh === undefined && tries < 200; tries++) {
        fresh = await hangup.listen({ path }).catch(async () => void (await sleep(10)));
      }
      assert.ok(fresh, "a new listener bound at the path");
      await closing;
      assert.ok(existsSync(path), "the new listener's file is still there");
      const conn = await within(5000, hangup.connect({ path }), "a connection to the new listener");
      await conn.close();
      for (const client of clients) client?.reset();
      await fresh.close();
    }),
    { timeout: 30_000 },
  );
});
