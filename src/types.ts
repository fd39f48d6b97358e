import type { SocketError } from "./errors.ts";

/**
 * Where a socket is bound or connected.
 *
 * @example
 * ```ts
 * const addr = conn.remoteAddr;
 * console.log(addr.transport === "tcp" ? `${addr.hostname}:${addr.port}` : addr.path);
 * ```
 */
export type Addr =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/**
 * Options every connection takes, from `connect`, `listen`, `wrap` or `createConn`.
 *
 * @example
 * ```ts
 * const conn = await connect({ port: 7000, idleTimeout: 30_000, keepAlive: 60_000, noDelay: true,
 *   heartbeat: { interval: 10_000, message: "PING\n" } });
 * ```
 */
export interface ConnOptions {
  /** ms with no byte received: the read side ends with `IdleTimeoutError` and the connection closes. Off when 0 or absent. */
  idleTimeout?: number;
  /** TCP keepalive, initial delay in ms; `false` turns it off; absent leaves the runtime's default. */
  keepAlive?: number | false;
  /** TCP_NODELAY. */
  noDelay?: boolean;
  /** Most unread bytes held before reading from the OS pauses; default 65536. */
  highWaterMark?: number;
  /** Write `message` whenever nothing was written for `interval` ms. */
  heartbeat?: { interval: number; message: Uint8Array | string };
  /** Abort: the connection is closed, pending operations reject with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Why the read side ended.
 *
 * @example
 * ```ts
 * const { reason } = await conn.ended; // "eof" | "truncated" | "reset" | "timeout" | "idle" | "aborted" | "local" | "error"
 * ```
 */
export type EndReason = "eof" | "truncated" | "reset" | "timeout" | "idle" | "aborted" | "local" | "error";

/**
 * What `Conn.ended` resolves with.
 *
 * @example
 * ```ts
 * const { reason, error } = await conn.ended;
 * if (reason === "reset") console.log(error?.message); // "Cannot read: connection reset by peer"
 * ```
 */
export interface EndInfo {
  reason: EndReason;
  /** The typed error, where there is one. */
  error?: SocketError;
}

/**
 * Options of a single operation.
 *
 * @example
 * ```ts
 * const chunk = await conn.read({ signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface OperationOptions {
  /** Aborts this operation only: it rejects with `signal.reason`; buffered bytes stay. */
  signal?: AbortSignal;
}

/**
 * Options of `readUntil` and `lines`.
 *
 * @example
 * ```ts
 * const head = await conn.readUntil("\r\n\r\n", { maxBytes: 16384, signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface ScanOptions extends OperationOptions {
  /** Most bytes scanned for the delimiter before `LimitExceededError`; default 65536. */
  maxBytes?: number;
}

/**
 * A connection whose `for await` ends at the peer's FIN, throws `ConnectionResetError`
 * at its RST, and never loses a byte.
 *
 * @example
 * ```ts
 * await using conn = await connect({ port: 7000 });
 * try {
 *   for await (const chunk of conn) console.log(chunk.length);
 * } catch (err) {
 *   if (err instanceof ConnectionResetError) console.log("reset by the peer");
 * }
 * ```
 */
export interface Conn extends AsyncIterable<Uint8Array>, AsyncDisposable {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  /** Set once a TLS handshake completed (connect/listen with `tls`, `startTls`); else undefined. */
  readonly tls: TlsInfo | undefined;

  /** The next bytes; `null` at EOF, forever. */
  read(options?: OperationOptions): Promise<Uint8Array | null>;
  /** The bytes `read()` would return next, not consumed; `null` at EOF. */
  peek(options?: OperationOptions): Promise<Uint8Array | null>;
  /** Exactly `n` bytes, or `UnexpectedEofError` with the `partial` bytes. */
  readExactly(n: number, options?: OperationOptions): Promise<Uint8Array>;
  /** The bytes up to and including `delimiter`; `null` at a clean EOF with nothing buffered. */
  readUntil(delimiter: Uint8Array | string, options?: ScanOptions): Promise<Uint8Array | null>;
  /** UTF-8 lines without their `\n` / `\r\n`. */
  lines(options?: ScanOptions): AsyncIterable<string>;
  /** Stops reading and hands the socket over, with the bytes already read ahead. */
  unwrap(): { buffered: Uint8Array; native: unknown };

  /** The read side is over; never rejects. */
  readonly ended: Promise<EndInfo>;
  /** Aborted when `ended` settles. */
  readonly signal: AbortSignal;
  /** Fully closed and released. */
  readonly closed: Promise<void>;

  /** Resolves when the runtime accepted the bytes; awaiting it is backpressure. */
  write(data: Uint8Array | string, options?: OperationOptions): Promise<void>;
  /** Half-close: FIN after pending writes; reading goes on. */
  closeWrite(): Promise<void>;
  /** Flush pending writes, close both ways; idempotent. */
  close(): Promise<void>;
  /** Abortive close: RST where the runtime can; idempotent. */
  reset(): void;
}

/**
 * A listening socket: iterate it, or `accept()`, to get connections.
 *
 * @example
 * ```ts
 * await using listener = await listen({ port: 0 });
 * for await (const conn of listener) conn.ended.then(({ reason }) => console.log(reason));
 * ```
 */
export interface Listener extends AsyncIterable<Conn>, AsyncDisposable {
  readonly addr: Addr;
  /** The next connection; `null` once the listener is closed. */
  accept(options?: OperationOptions): Promise<Conn | null>;
  /** Stop accepting; iteration and pending `accept()` end; established connections stay. Idempotent. */
  close(): Promise<void>;
}

/**
 * TLS options of `connect`, `listen` and `startTls`.
 *
 * @example
 * ```ts
 * const conn = await connect({ hostname: "db.internal", port: 5432,
 *   tls: { ca: caPem, alpnProtocols: ["postgresql"], handshakeTimeout: 5000 } });
 * ```
 */
export interface TlsOptions {
  /** SNI, and the name the peer's certificate must match; default: the hostname connected to. */
  serverName?: string;
  /** PEM roots to trust instead of the runtime's store. */
  ca?: string | string[];
  /** PEM certificate chain: required to listen; a client certificate when connecting. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** ALPN protocols to offer (client) or accept (server), in order of preference. */
  alpnProtocols?: string[];
  /** Reject a peer whose certificate does not verify; default true. */
  rejectUnauthorized?: boolean;
  /** A FIN without close_notify ends the read side cleanly; `ended` still says "truncated". */
  allowTruncation?: boolean;
  /** ms to wait for the handshake (a listener drops the connection after it); default 10000. */
  handshakeTimeout?: number;
}

/**
 * What a completed TLS handshake negotiated.
 *
 * @example
 * ```ts
 * console.log(conn.tls); // { protocol: "TLSv1.3", alpnProtocol: "h2", serverName: "example.com" }
 * ```
 */
export interface TlsInfo {
  /** The protocol version, e.g. "TLSv1.3". */
  protocol: string;
  /** The negotiated ALPN protocol, or null. */
  alpnProtocol: string | null;
  /** The SNI name: sent (client) or received (server); null without one. */
  serverName: string | null;
}
