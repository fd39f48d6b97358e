/**
 * SPEC "TLS" T4: typed handshake failures with the runtime's certificate code, and a listener that
 * no failed, stalled or crowding handshake blocks.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { type Conn, TimedOutError, TlsHandshakeError, type TlsOptions } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, rejection, sleep, text, within } from "../support/fixtures.ts";
import { withPeer } from "../support/peer.ts";
import { runtime } from "../support/runtime.ts";
import { connectRuntimeTls } from "../support/native.ts";
import { CERTS, hasTls, openTlsPair, pem, tlsAdapter, tlsOptionsFor } from "../support/tls.ts";
import { NodeTlsEngine } from "../../adapters/node-tls.ts";
import { failWithoutTls, plainClient } from "../support/tls-cases.ts";

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

if (!hasTls) failWithoutTls();
else {
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
}
