/**
 * hangup's error hierarchy: one base class, `name` and `code` as fields, the
 * runtime's original error as `cause`.
 *
 * `instanceof` is checked by brand as well as by prototype, so a class keeps one
 * identity when the package is loaded twice (its ESM and CJS builds, two bundled
 * copies, a minified Worker). Each class's prototype carries, under a registered
 * symbol, the fixed brand strings of the class and its ancestors: written here as
 * literals, never taken from a class name, which a minifier or a CJS transform renames.
 *
 * @module
 */

/** Shared by every copy of hangup in a realm (`Symbol.for`). */
const BRANDS: unique symbol = Symbol.for("hangup.error.brands") as never;

/** Gives `cls` its own brand after its parent's; called from each class's static block. */
function brand(cls: abstract new (...args: never[]) => SocketError, name: string): void {
  const parent = Object.getPrototypeOf(cls.prototype) as { [BRANDS]?: readonly string[] };
  Object.defineProperty(cls.prototype, BRANDS, { value: Object.freeze([...(parent[BRANDS] ?? []), `hangup.error.${name}`]) });
}

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

  static {
    brand(this, "SocketError");
  }

  constructor(message: string, code: string, options?: SocketErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /**
   * True for an instance of this class from any copy of hangup. A subclass you
   * write yourself (no brand of its own) is matched by prototype only.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== "object" || value === null) return false;
    const proto = this.prototype as { [BRANDS]?: readonly string[] };
    if (!Object.prototype.hasOwnProperty.call(proto, BRANDS)) return false;
    const own = proto[BRANDS]!;
    const brands = (value as { [BRANDS]?: unknown })[BRANDS];
    return Array.isArray(brands) && brands.includes(own[own.length - 1]);
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
  static {
    brand(this, "ConnectionResetError");
  }
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
  static {
    brand(this, "ConnectionAbortedError");
  }
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
  static {
    brand(this, "ConnectionRefusedError");
  }
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
  static {
    brand(this, "BrokenPipeError");
  }
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
  static {
    brand(this, "TimedOutError");
  }
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
  static {
    brand(this, "IdleTimeoutError");
  }
  override readonly code = "ERR_IDLE_TIMEOUT";
  constructor(message = "Connection idle for too long", options?: SocketErrorOptions) {
    super(message, "ERR_IDLE_TIMEOUT", options);
  }
}

/**
 * EOF arrived inside `readExactly`, `readUntil` or a `decode()` message; `partial` holds the
 * bytes that came before it.
 *
 * @example
 * ```ts
 * try { const header = await conn.readExactly(16); }
 * catch (err) { if (err instanceof UnexpectedEofError) console.log(err.partial.length, "of 16"); }
 * ```
 */
export class UnexpectedEofError extends SocketError {
  override name = "UnexpectedEofError";
  static {
    brand(this, "UnexpectedEofError");
  }
  override readonly code = "ERR_UNEXPECTED_EOF";
  /** The bytes that arrived before EOF (consumed from the connection). */
  readonly partial: Uint8Array<ArrayBuffer>;
  constructor(
    partial: Uint8Array<ArrayBuffer>,
    message = "Cannot read: the peer closed the connection mid-message",
    options?: SocketErrorOptions,
  ) {
    super(message, "ERR_UNEXPECTED_EOF", options);
    this.partial = partial;
  }
}

/**
 * `readUntil` or `lines` saw `limit` bytes without a delimiter, or `decode()` a message (or
 * its `need`) over `limit`; code `ERR_LIMIT_EXCEEDED`.
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
  static {
    brand(this, "LimitExceededError");
  }
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
  static {
    brand(this, "SocketClosedError");
  }
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
  static {
    brand(this, "AddressInUseError");
  }
  override readonly code = "EADDRINUSE";
  constructor(message = "Address already in use", options?: SocketErrorOptions) {
    super(message, "EADDRINUSE", options);
  }
}

/**
 * `writeTimeout` passed while the peer took no piece of a write (or of the flush inside
 * `close()`): it stopped reading, or reads too slowly. Code `ERR_WRITE_TIMEOUT`; the connection is reset.
 *
 * @example
 * ```ts
 * try { await conn.write(bigReply); }
 * catch (err) { if (err instanceof WriteTimeoutError) console.log("the peer stopped reading"); }
 * ```
 */
export class WriteTimeoutError extends SocketError {
  override name = "WriteTimeoutError";
  static {
    brand(this, "WriteTimeoutError");
  }
  override readonly code = "ERR_WRITE_TIMEOUT";
  constructor(message = "Cannot write: the peer did not take the bytes in flight within the write timeout", options?: SocketErrorOptions) {
    super(message, "ERR_WRITE_TIMEOUT", options);
  }
}

/**
 * What a `TlsHandshakeError` carries besides its message.
 *
 * @example
 * ```ts
 * new TlsHandshakeError("TLS handshake failed: certificate has expired", { code: "CERT_HAS_EXPIRED", cause: err });
 * ```
 */
export interface TlsHandshakeErrorOptions extends SocketErrorOptions {
  /** The runtime's certificate code (e.g. `CERT_HAS_EXPIRED`); default `ERR_TLS_HANDSHAKE`. */
  code?: string | undefined;
}

/**
 * The TLS handshake failed. `code` is the runtime's certificate code where it has
 * one (`CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, ...), else `ERR_TLS_HANDSHAKE`.
 *
 * @example
 * ```ts
 * try { await connect({ hostname: "example.com", port: 443, tls: true }); }
 * catch (err) { if (err instanceof TlsHandshakeError) console.log(err.code); }
 * ```
 */
export class TlsHandshakeError extends SocketError {
  override name = "TlsHandshakeError";
  static {
    brand(this, "TlsHandshakeError");
  }
  constructor(message = "TLS handshake failed", options?: TlsHandshakeErrorOptions) {
    super(message, options?.code ?? "ERR_TLS_HANDSHAKE", options);
  }
}

/**
 * The TLS peer sent FIN without `close_notify`: the stream may have been cut
 * short. Code `ERR_TLS_TRUNCATED`.
 *
 * @example
 * ```ts
 * try { for await (const chunk of conn) use(chunk); }
 * catch (err) { if (err instanceof TlsTruncatedError) console.log("the reply may be incomplete"); }
 * ```
 */
export class TlsTruncatedError extends SocketError {
  override name = "TlsTruncatedError";
  static {
    brand(this, "TlsTruncatedError");
  }
  override readonly code = "ERR_TLS_TRUNCATED";
  constructor(message = "Cannot read: the TLS peer closed without close_notify", options?: SocketErrorOptions) {
    super(message, "ERR_TLS_TRUNCATED", options);
  }
}
