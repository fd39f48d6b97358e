/** TlsSource's ordering rules over a scripted TCP source and a fake engine (the real engines are proven in conformance/tls). */
import assert from "node:assert/strict";
import {
  checkTlsOptions,
  ConnectionResetError,
  createConn,
  type TlsEngine,
  type TlsEvents,
  TlsHandshakeError,
  TlsSource,
  TlsTruncatedError,
  type TlsWire,
} from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { scripted } from "../support/scripted-source.ts";

const INFO = { protocol: "TLSv1.3", alpnProtocol: null, serverName: null, peerCertificate: null };

/** Echoes fed ciphertext as plaintext; the test decides when the TLS stream ends and how. */
class FakeEngine implements TlsEngine {
  readonly native = "fake";
  events!: TlsEvents;
  wire!: TlsWire;
  fed: Uint8Array[] = [];
  fedEnd = false;
  held: Uint8Array[] = [];
  paused = false;
  start(wire: TlsWire, events: TlsEvents): void {
    this.wire = wire;
    this.events = events;
  }
  feed(bytes: Uint8Array): void {
    this.fed.push(bytes);
    if (this.paused) this.held.push(bytes);
    else this.events.data(bytes);
  }
  feedEnd(): void {
    this.fedEnd = true;
  }
  write = (bytes: Uint8Array): Promise<void> => this.wire.write(bytes);
  end = (): Promise<void> => this.wire.end();
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    for (const bytes of this.held.splice(0)) this.events.data(bytes);
  }
  async drain(): Promise<void> {
    await Promise.resolve();
    this.resume();
  }
  destroy(): void {}
  detach(): void {}
}

async function handshaken(allowTruncation = false, overrides: Parameters<typeof scripted>[0] = {}) {
  const tcp = scripted(overrides);
  const engine = new FakeEngine();
  const source = new TlsSource(tcp.source, engine, { allowTruncation });
  const done = source.handshake(0);
  engine.events.handshake(INFO);
  await done;
  return { tcp, engine, conn: createConn(source) };
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("TlsSource", () => {
  test("a server's TLS engine starts at the client's first byte, not before; a FIN before any byte fails the handshake without one", async () => {
    const tcp = scripted();
    const engine = new FakeEngine();
    let started = 0;
    const start = engine.start.bind(engine);
    engine.start = (wire, events) => (started++, start(wire, events));
    const source = new TlsSource(tcp.source, engine, { allowTruncation: false, side: "server", startAtFirstByte: true });
    const done = source.handshake(0);
    await Promise.resolve();
    assert.equal(started, 0, "no engine while the client has sent nothing");
    tcp.sink().data(bytes("hello"));
    assert.equal(started, 1, "the engine starts at the first byte");
    assert.deepEqual(engine.fed.map((b) => new TextDecoder().decode(b)), ["hello"], "and gets that byte first");
    engine.events.handshake(INFO);
    await done;

    const silentTcp = scripted();
    const silentEngine = new FakeEngine();
    silentEngine.start = () => assert.fail("no engine for a client that sent nothing");
    const silent = new TlsSource(silentTcp.source, silentEngine, { allowTruncation: false, side: "server", startAtFirstByte: true });
    const rejected = silent.handshake(0).then(() => undefined, (err: unknown) => err);
    silentTcp.sink().end();
    const err = await rejected;
    assert.ok(err instanceof TlsHandshakeError, `expected TlsHandshakeError, got ${String(err)}`);
    assert.match(err.message, /^Cannot accept: the peer closed the connection during the TLS handshake$/);
  });

  test("a FIN right behind the bytes that finish the handshake is the connection's FIN, not lost (an engine that handshakes a tick later)", async () => {
    const tcp = scripted();
    const engine = new FakeEngine();
    const source = new TlsSource(tcp.source, engine, { allowTruncation: false });
    const done = source.handshake(0);
    // The peer's last handshake bytes, then its FIN, in one go; the engine completes the handshake a tick later.
    tcp.sink().data(bytes("finished"));
    tcp.sink().end();
    await Promise.resolve();
    engine.events.handshake(INFO);
    await done;
    const conn = createConn(source);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(engine.fedEnd, "the FIN reached the TLS layer once the handshake was done");
    engine.events.end(false);
    const ended = await Promise.race([conn.ended, new Promise((resolve) => setTimeout(() => resolve("never"), 1000))]);
    assert.deepEqual((ended as { reason: string }).reason, "truncated");
  });

  test("a TLS end before the TCP FIN is eof; conn.tls is the handshake's info", async () => {
    const { tcp, engine, conn } = await handshaken();
    assert.deepEqual(conn.tls, INFO);
    tcp.sink().data(bytes("hi"));
    engine.events.end(true);
    assert.equal(new TextDecoder().decode((await conn.read())!), "hi");
    assert.equal(await conn.read(), null);
    assert.deepEqual(await conn.ended, { reason: "eof" });
  });

  test("a TLS end caused by the TCP FIN is TlsTruncatedError, or a clean truncated end when allowed", async () => {
    const strict = await handshaken();
    strict.tcp.sink().end();
    assert.equal(strict.engine.fedEnd, true);
    strict.engine.events.end(false);
    const err = await strict.conn.read().catch((e: unknown) => e);
    assert.ok(err instanceof TlsTruncatedError);
    assert.equal((await strict.conn.ended).reason, "truncated");

    const lax = await handshaken(true);
    lax.tcp.sink().end();
    lax.engine.events.end(false);
    assert.equal(await lax.conn.read(), null);
    assert.deepEqual(await lax.conn.ended, { reason: "truncated" });
  });

  test("a TCP reset waits for the plaintext before it, and wins over whatever the TLS layer says next", async () => {
    const { tcp, engine, conn } = await handshaken();
    engine.pause();
    tcp.sink().data(bytes("before"));
    tcp.sink().error(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    engine.events.end(true);
    engine.events.error(new Error("TLS layer noise"));
    assert.equal(new TextDecoder().decode((await conn.read())!), "before");
    const err = await conn.read().catch((e: unknown) => e);
    assert.ok(err instanceof ConnectionResetError, String(err));
    assert.equal((await conn.ended).reason, "reset");
  });

  test("an EPIPE after the TCP FIN is a truncation, never eof (no close_notify came)", async () => {
    const { tcp, conn } = await handshaken();
    tcp.sink().end();
    tcp.sink().error(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    const err = await conn.read().catch((e: unknown) => e);
    assert.ok(err instanceof TlsTruncatedError, String(err));
    assert.equal((await conn.ended).reason, "truncated");
  });

  test("a TLS end the engine makes after a TCP write failed is no close_notify: the write's reset, else a truncation", async () => {
    for (const [code, reason] of [["ECONNRESET", "reset"], ["EPIPE", "truncated"]] as const) {
      const failure = Object.assign(new Error(`write ${code}`), { code });
      const { engine, conn } = await handshaken(false, { write: () => Promise.reject(failure) });
      await engine.write(bytes("x")).catch(() => {});
      engine.events.end(true); // Node's TLS layer ends its readable when its transport's write fails
      assert.equal((await conn.ended).reason, reason, code);
    }
  });

  test("a handshake fails typed: engine error with a certificate code, TCP end, timeout", async () => {
    const engine = new FakeEngine();
    const second = new TlsSource(scripted().source, engine, { allowTruncation: false });
    const p2 = second.handshake(0).catch((e: unknown) => e);
    engine.events.error(Object.assign(new Error("certificate has expired"), { code: "CERT_HAS_EXPIRED" }));
    const err = await p2;
    assert.ok(err instanceof TlsHandshakeError);
    assert.equal(err.code, "CERT_HAS_EXPIRED");
    assert.ok(err.cause instanceof Error);

    // Only a certificate's code is kept: any other failure is ERR_TLS_HANDSHAKE, its code on the cause.
    const codes: [string, string][] = [
      ["ERR_TLS_CERT_ALTNAME_INVALID", "ERR_TLS_CERT_ALTNAME_INVALID"],
      ["DEPTH_ZERO_SELF_SIGNED_CERT", "DEPTH_ZERO_SELF_SIGNED_CERT"],
      ["ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE"],
      ["ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"],
      ["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_TLS_HANDSHAKE"],
      ["ECONNRESET", "ERR_TLS_HANDSHAKE"],
    ];
    for (const [code, expected] of codes) {
      const codeEngine = new FakeEngine();
      const failing = new TlsSource(scripted().source, codeEngine, { allowTruncation: false }).handshake(0).catch((e: unknown) => e);
      const raw =
        "C0EC4ED3E87F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/ssl/record/ssl3_record.c:354:\n";
      codeEngine.events.error(Object.assign(new Error(raw), { code }));
      const failed = await failing;
      assert.ok(failed instanceof TlsHandshakeError);
      assert.equal(failed.code, expected, code);
      assert.equal((failed.cause as { code: string }).code, code);
      assert.equal(
        failed.message,
        "Cannot connect: the TLS handshake failed: wrong version number",
        "the library's reason, without its file and line",
      );
    }

    const tcp = scripted();
    const third = new TlsSource(tcp.source, new FakeEngine(), { allowTruncation: false });
    const p3 = third.handshake(0).catch((e: unknown) => e);
    tcp.sink().end();
    const ended = await p3;
    assert.ok(ended instanceof TlsHandshakeError);
    assert.equal(ended.code, "ERR_TLS_HANDSHAKE");

    const timedOut = await new TlsSource(scripted().source, new FakeEngine(), { allowTruncation: false }).handshake(20).catch((
      e: unknown,
    ) => e);
    assert.ok(timedOut instanceof TlsHandshakeError);
    assert.match(timedOut.message, /did not finish within 20 ms/);
  });

  test("checkTlsOptions: defaults, and errors naming the option", async () => {
    assert.deepEqual(checkTlsOptions(true, "tls", "client"), {
      serverName: undefined,
      ca: undefined,
      cert: undefined,
      key: undefined,
      alpnProtocols: undefined,
      rejectUnauthorized: true,
      allowTruncation: false,
      handshakeTimeout: 10_000,
      maxHandshakes: 128,
    });
    assert.throws(() => checkTlsOptions({ maxHandshakes: 0 }, "tls", "client"), {
      name: "RangeError",
      message: /^tls\.maxHandshakes must be an integer from 1/,
    });
    assert.throws(() => checkTlsOptions({ maxHandshakes: 1.5 }, "tls", "client"), { name: "RangeError", message: /^tls\.maxHandshakes/ });
    assert.throws(() => checkTlsOptions({ maxHandshakes: "8" }, "tls", "client"), {
      name: "TypeError",
      message: /^tls\.maxHandshakes must be an integer/,
    });
    assert.throws(() => checkTlsOptions({ handshakeTimeout: Infinity }, "tls", "client"), {
      name: "RangeError",
      message: /^tls\.handshakeTimeout/,
    });
    assert.throws(() => checkTlsOptions({ allowTruncation: "yes" }, "tls", "client"), {
      name: "TypeError",
      message: /^tls\.allowTruncation must be a boolean/,
    });
    assert.throws(() => checkTlsOptions({ serverName: "" }, "tls", "client"), { name: "TypeError", message: /^tls\.serverName/ });
    assert.throws(() => checkTlsOptions({ alpnProtocols: ["x".repeat(256)] }, "tls", "client"), {
      name: "RangeError",
      message: /^tls\.alpnProtocols\[0\]/,
    });
    assert.throws(() => checkTlsOptions(null, "tls", "client"), { name: "TypeError", message: /^tls must be true or an object/ });
  });
});
