/** toSocketError and the error classes, without any socket. */
import assert from "node:assert/strict";
import {
  BrokenPipeError,
  ConnectionRefusedError,
  ConnectionResetError,
  SocketClosedError,
  SocketError,
  TimedOutError,
  TlsHandshakeError,
  TlsTruncatedError,
  toSocketError,
  WriteTimeoutError,
} from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";

const withCode = (message: string, fields: Record<string, unknown>): Error => Object.assign(new Error(message), fields);
class DenoLike extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

describe("toSocketError", () => {
  test("maps Node/Bun codes and Deno names to the classes of the table, keeping the original as cause", async () => {
    const cases: Array<[unknown, new (...args: never[]) => SocketError, string]> = [
      [withCode("read ECONNRESET", { code: "ECONNRESET", errno: -104, syscall: "read" }), ConnectionResetError, "ECONNRESET"],
      [withCode("ECONNRESET: connection reset by peer, read", { code: "ECONNRESET" }), ConnectionResetError, "ECONNRESET"],
      [new DenoLike("ConnectionReset", "Connection reset by peer (os error 104)"), ConnectionResetError, "ECONNRESET"],
      [withCode("write EPIPE", { code: "EPIPE" }), BrokenPipeError, "EPIPE"],
      [new DenoLike("BrokenPipe", "Broken pipe (os error 32)"), BrokenPipeError, "EPIPE"],
      [new DenoLike("TimedOut", "timed out"), TimedOutError, "ETIMEDOUT"],
      [new DenoLike("ConnectionRefused", "refused"), ConnectionRefusedError, "ECONNREFUSED"],
      [new DenoLike("BadResource", "Bad resource ID"), SocketClosedError, "ERR_SOCKET_CLOSED"],
      [withCode("operation canceled", { name: "Interrupted", code: "EINTR" }), SocketClosedError, "ERR_SOCKET_CLOSED"],
      [
        withCode("Cannot call write after a stream was destroyed", { code: "ERR_STREAM_DESTROYED" }),
        SocketClosedError,
        "ERR_SOCKET_CLOSED",
      ],
    ];
    for (const [input, ErrorClass, code] of cases) {
      const err = toSocketError(input, "read");
      assert.ok(err instanceof ErrorClass, `${String(input)} → ${err.name}`);
      assert.equal(err.code, code);
      assert.equal(err.cause, input);
      assert.match(err.message, /^Cannot read: /);
    }
  });

  test("maps Deno's failed name lookup (a plain Error, as Deno 2 throws it) to ENOTFOUND like Node and Bun", async () => {
    // Captured from `Deno.connect({ hostname: "no-such-host.invalid", port: 80 })` on Deno 2.9.
    const lookup = new Error("failed to lookup address information: Name or service not known");
    const err = toSocketError(lookup, "connect");
    assert.equal(err.code, "ENOTFOUND");
    assert.equal(err.message, "Cannot connect: host not found");
    assert.equal(err.cause, lookup);
    const again = toSocketError(new Error("failed to lookup address information: Temporary failure in name resolution"), "connect");
    assert.equal(again.code, "EAI_AGAIN");
  });

  test("keeps an unknown OS code on a plain SocketError, and returns a SocketError unchanged", async () => {
    const err = toSocketError(withCode("getaddrinfo ENOTFOUND nowhere", { code: "ENOTFOUND" }), "connect");
    assert.equal(err.constructor, SocketError);
    assert.equal(err.code, "ENOTFOUND");
    assert.equal(err.message, "Cannot connect: host not found");
    assert.equal(toSocketError(err), err);
    assert.equal(toSocketError("weird").code, "ERR_SOCKET");
  });

  test("messages are sentence case and say what failed", async () => {
    assert.equal(toSocketError(withCode("x", { code: "ECONNRESET" }), "read").message, "Cannot read: connection reset by peer");
    assert.equal(toSocketError(withCode("x", { code: "ECONNRESET" })).message, "Connection reset by peer");
  });
});

describe("error classes", () => {
  test("name and code are fields; instanceof holds across copies of the class (one identity)", async () => {
    const err = new ConnectionResetError();
    assert.equal(err.name, "ConnectionResetError");
    assert.equal(err.code, "ECONNRESET");
    assert.ok(err instanceof SocketError && err instanceof Error);
    assert.ok(!(err instanceof BrokenPipeError));
    // What a second copy of the module (a CJS + ESM mix) creates: another class, the same brand.
    const foreign = Object.assign(new Error("Connection reset by peer"), { name: "ConnectionResetError", code: "ECONNRESET" });
    Object.defineProperty(foreign, Symbol.for("hangup.error.brands"), {
      value: ["hangup.error.SocketError", "hangup.error.ConnectionResetError"],
    });
    assert.ok(foreign instanceof ConnectionResetError);
    assert.ok(foreign instanceof SocketError);
    assert.ok(!(foreign instanceof BrokenPipeError));
    assert.ok(!(new Error("plain") instanceof SocketError));
  });

  test("the 1.0 classes: WriteTimeoutError, TlsTruncatedError, TlsHandshakeError (runtime code, else ERR_TLS_HANDSHAKE)", async () => {
    assert.equal(new WriteTimeoutError().code, "ERR_WRITE_TIMEOUT");
    assert.equal(new TlsTruncatedError().code, "ERR_TLS_TRUNCATED");
    assert.equal(new TlsHandshakeError().code, "ERR_TLS_HANDSHAKE");
    const cause = new Error("certificate has expired");
    const expired = new TlsHandshakeError("TLS handshake failed: certificate has expired", { code: "CERT_HAS_EXPIRED", cause });
    assert.equal(expired.code, "CERT_HAS_EXPIRED");
    assert.equal(expired.cause, cause);
    for (const err of [new WriteTimeoutError(), new TlsTruncatedError(), expired]) {
      assert.ok(err instanceof SocketError);
      assert.ok(!(err instanceof TimedOutError));
    }
    assert.ok(toSocketError(Object.assign(new Error("x"), { code: "ERR_WRITE_TIMEOUT" })) instanceof WriteTimeoutError);
  });
});
