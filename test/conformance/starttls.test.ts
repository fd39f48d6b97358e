/** SPEC "TLS" T3: STARTTLS without losing a byte read ahead, as client and as server. */
import assert from "node:assert/strict";
import { type Conn, fromStreams, IdleTimeoutError, SocketClosedError, TlsHandshakeError, WriteTimeoutError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, rejection, sleep, text, within } from "../support/fixtures.ts";
import { sha256, withPeer } from "../support/peer.ts";
import { capabilities, hangup } from "../support/runtime.ts";
import { CERTS, hasTls, pem, tlsAdapter } from "../support/tls.ts";
import { drain, failWithoutTls, plainClient } from "../support/tls-cases.ts";

/** `startTls`, bounded: an upgrade that hangs fails the case within 5 s. */
function startTlsWithin(conn: Conn, options: Parameters<typeof tlsAdapter.startTls>[1]): Promise<Conn> {
  return within(5000, tlsAdapter.startTls(conn, options), "startTls");
}

if (!hasTls) failWithoutTls();
else {
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
}
