/**
 * hangup's error hierarchy: one base class, `name` and `code` as fields, the
 * runtime's original error as `cause`.
 *
 * `instanceof` is checked by a brand (a global symbol) as well as by prototype,
 * so a class keeps one identity even when the package is loaded twice (ESM and
 * CJS, or two bundled entry points).
 *
 * @module
 */

const BRAND: unique symbol = Symbol.for("hangup.SocketError") as never;

/**
 * What an error carries besides its message.
 *
 * @example
 * ```ts
 * throw new SocketError("Cannot read: the device is gone", "ENODEV", { cause: runtimeError });
 * ```
 */
export interface SocketErrorOptions {
  /** The runtime's original error. */
  cause?: unknown;
}

/**
 * Base of every socket failure hangup reports. `code` is the OS code
 * (`EACCES`, `ECONNRESET`, ...) or one of hangup's own `ERR_*` codes.
 *
 * @example
 * ```ts
 * import { SocketError } from "hangup";
 * try { await conn.write("hi\n"); }
 * catch (err) { if (err instanceof SocketError) console.log(err.code); }
 * ```
 */
export class SocketError extends Error {
  override name = "SocketError";
  /** The OS error code, or one of hangup's `ERR_*` codes. */
  readonly code: string;
  declare readonly [BRAND]: string;

  constructor(message: string, code: string, options?: SocketErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    Object.defineProperty(this, BRAND, { value: new.target.name, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== "object" || value === null) return false;
    const brand = (value as { [BRAND]?: unknown })[BRAND];
    if (typeof brand !== "string") return false;
    return this.name === "SocketError" || brand === this.name;
  }
}

/**
 * The peer reset the connection (TCP RST), code `ECONNRESET`.
 *
 * @example
 * ```ts
 * try { for await (const chunk of conn) use(chunk); }
 * catch (err) { if (err instanceof ConnectionResetError) console.log("peer reset"); }
 * ```
 */
export class ConnectionResetError extends SocketError {
  override name = "ConnectionResetError";
  override readonly code = "ECONNRESET";
  constructor(message = "Connection reset by peer", options?: SocketErrorOptions) {
    super(message, "ECONNRESET", options);
  }
}

/**
 * The local network stack aborted the connection, code `ECONNABORTED`.
 *
 * @example
 * ```ts
 * if (err instanceof ConnectionAbortedError) retryLater();
 * ```
 */
export class ConnectionAbortedError extends SocketError {
  override name = "ConnectionAbortedError";
  override readonly code = "ECONNABORTED";
  constructor(message = "Connection aborted", options?: SocketErrorOptions) {
    super(message, "ECONNABORTED", options);
  }
}

/**
 * Nothing listens at the address, code `ECONNREFUSED`.
 *
 * @example
 * ```ts
 * try { await connect({ port: 1 }); }
 * catch (err) { if (err instanceof ConnectionRefusedError) console.log("nobody home"); }
 * ```
 */
export class ConnectionRefusedError extends SocketError {
  override name = "ConnectionRefusedError";
  override readonly code = "ECONNREFUSED";
  constructor(message = "Connection refused", options?: SocketErrorOptions) {
    super(message, "ECONNREFUSED", options);
  }
}

/**
 * A write after the peer closed, code `EPIPE`.
 *
 * @example
 * ```ts
 * try { await conn.write(reply); }
 * catch (err) { if (err instanceof BrokenPipeError) console.log("peer left"); }
 * ```
 */
export class BrokenPipeError extends SocketError {
  override name = "BrokenPipeError";
  override readonly code = "EPIPE";
  constructor(message = "Broken pipe: the peer closed the connection", options?: SocketErrorOptions) {
    super(message, "EPIPE", options);
  }
}

/**
 * An OS timeout (keepalive probes unanswered) or a connect timeout, code `ETIMEDOUT`.
 *
 * @example
 * ```ts
 * try { await connect({ port: 7000, timeout: 2000 }); }
 * catch (err) { if (err instanceof TimedOutError) console.log("too slow"); }
 * ```
 */
export class TimedOutError extends SocketError {
  override name = "TimedOutError";
  override readonly code = "ETIMEDOUT";
  constructor(message = "Connection timed out", options?: SocketErrorOptions) {
    super(message, "ETIMEDOUT", options);
  }
}

/**
 * `idleTimeout` passed with no byte received, code `ERR_IDLE_TIMEOUT`.
 *
 * @example
 * ```ts
 * const conn = await connect({ port: 7000, idleTimeout: 30_000 });
 * try { for await (const chunk of conn) use(chunk); }
 * catch (err) { if (err instanceof IdleTimeoutError) console.log("peer went silent"); }
 * ```
 */
export class IdleTimeoutError extends SocketError {
  override name = "IdleTimeoutError";
  override readonly code = "ERR_IDLE_TIMEOUT";
  constructor(message = "Connection idle for too long", options?: SocketErrorOptions) {
    super(message, "ERR_IDLE_TIMEOUT", options);
  }
}

/**
 * EOF arrived inside `readExactly` or `readUntil`; `partial` holds the bytes that came before it.
 *
 * @example
 * ```ts
 * try { const header = await conn.readExactly(16); }
 * catch (err) { if (err instanceof UnexpectedEofError) console.log(err.partial.length, "of 16"); }
 * ```
 */
export class UnexpectedEofError extends SocketError {
  override name = "UnexpectedEofError";
  override readonly code = "ERR_UNEXPECTED_EOF";
  /** The bytes that arrived before EOF (consumed from the connection). */
  readonly partial: Uint8Array;
  constructor(partial: Uint8Array, message = "Cannot read: the peer closed the connection mid-message", options?: SocketErrorOptions) {
    super(message, "ERR_UNEXPECTED_EOF", options);
    this.partial = partial;
  }
}

/**
 * `readUntil` or `lines` saw `limit` bytes without a delimiter, code `ERR_LIMIT_EXCEEDED`.
 * The bytes stay buffered.
 *
 * @example
 * ```ts
 * try { for await (const line of conn.lines({ maxBytes: 1024 })) handle(line); }
 * catch (err) { if (err instanceof LimitExceededError) await conn.write("line too long\n"); }
 * ```
 */
export class LimitExceededError extends SocketError {
  override name = "LimitExceededError";
  override readonly code = "ERR_LIMIT_EXCEEDED";
  /** The `maxBytes` that was passed. */
  readonly limit: number;
  constructor(limit: number, message = `Cannot read: no delimiter within ${limit} bytes`, options?: SocketErrorOptions) {
    super(message, "ERR_LIMIT_EXCEEDED", options);
    this.limit = limit;
  }
}

/**
 * An operation after our own close or reset, code `ERR_SOCKET_CLOSED`.
 *
 * @example
 * ```ts
 * await conn.close();
 * await conn.write("x").catch((err) => console.log(err instanceof SocketClosedError)); // true
 * ```
 */
export class SocketClosedError extends SocketError {
  override name = "SocketClosedError";
  override readonly code = "ERR_SOCKET_CLOSED";
  constructor(message = "Socket is closed", options?: SocketErrorOptions) {
    super(message, "ERR_SOCKET_CLOSED", options);
  }
}

/**
 * The address is taken, code `EADDRINUSE`.
 *
 * @example
 * ```ts
 * try { await listen({ port: 7000 }); }
 * catch (err) { if (err instanceof AddressInUseError) console.log("port 7000 is busy"); }
 * ```
 */
export class AddressInUseError extends SocketError {
  override name = "AddressInUseError";
  override readonly code = "EADDRINUSE";
  constructor(message = "Address already in use", options?: SocketErrorOptions) {
    super(message, "EADDRINUSE", options);
  }
}

/**
 * The TLS peer sent a TCP FIN without a TLS `close_notify` first, code `ERR_TLS_TRUNCATED`:
 * the stream may have been cut short (a FIN is not authenticated). `ended` says `"truncated"`.
 *
 * @example
 * ```ts
 * try { for await (const chunk of conn) use(chunk); }
 * catch (err) { if (err instanceof TlsTruncatedError) console.log("the stream may be incomplete"); }
 * ```
 */
export class TlsTruncatedError extends SocketError {
  override name = "TlsTruncatedError";
  override readonly code = "ERR_TLS_TRUNCATED";
  constructor(message = "Cannot read: the TLS peer closed the connection without close_notify", options?: SocketErrorOptions) {
    super(message, "ERR_TLS_TRUNCATED", options);
  }
}

/**
 * The TLS handshake failed. `code` is the runtime's certificate code where it has one
 * (`CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`, ...),
 * else `ERR_TLS_HANDSHAKE`; `cause` is the runtime's error.
 *
 * @example
 * ```ts
 * try { await connect({ hostname: "db.example", port: 5432, tls: true }); }
 * catch (err) { if (err instanceof TlsHandshakeError) console.log(err.code); }
 * ```
 */
export class TlsHandshakeError extends SocketError {
  override name = "TlsHandshakeError";
  constructor(message = "Cannot connect: the TLS handshake failed", code = "ERR_TLS_HANDSHAKE", options?: SocketErrorOptions) {
    super(message, code, options);
  }
}
