import type { ConnectionResetError, IdleTimeoutError, SocketError, TimedOutError, TlsTruncatedError, WriteTimeoutError } from "./errors.ts";

/**
 * The runtimes hangup has an adapter for; `runtime` says which one was picked.
 *
 * @example
 * ```ts
 * import { runtime } from "hangup";
 * if (runtime === "deno") console.log("running on Deno");
 * ```
 */
export type Runtime = "node" | "deno" | "bun" | "workerd";

/**
 * Where a socket is bound or connected.
 *
 * @example
 * ```ts
 * const addr = conn.remoteAddr;
 * console.log(addr.transport === "tcp" ? `${addr.hostname}:${addr.port}` : addr.path);
 * ```
 */
export type Addr = TcpAddr | UnixAddr;

/**
 * A TCP address: what `listener.addr` is after `listen({ port })`.
 *
 * @example
 * ```ts
 * const listener = await listen({ port: 0 });
 * console.log(listener.addr.port); // no cast: `addr` is a TcpAddr
 * ```
 */
export type TcpAddr = { transport: "tcp"; hostname: string; port: number };

/**
 * A Unix socket address: what `listener.addr` is after `listen({ path })`.
 *
 * @example
 * ```ts
 * const listener = await listen({ path: "/tmp/app.sock" });
 * console.log(listener.addr.path);
 * ```
 */
export type UnixAddr = { transport: "unix"; path: string };

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
  idleTimeout?: number | undefined;
  /** TCP keepalive, initial delay in ms; `false` turns it off; absent leaves the runtime's default. */
  keepAlive?: number | false | undefined;
  /** TCP_NODELAY. */
  noDelay?: boolean | undefined;
  /** Most unread bytes held before reading from the OS pauses; default 65536. */
  highWaterMark?: number | undefined;
  /** Write `message` whenever nothing was written for `interval` ms (and nothing still waits to go). */
  heartbeat?: { interval: number; message: Uint8Array | string } | undefined;
  /**
   * Abort: the connection is closed, pending operations reject with `signal.reason`. Watched
   * until the connection is closed: on Deno an `AbortSignal.timeout()` given here keeps the process
   * alive until then (or until it fires).
   */
  signal?: AbortSignal | undefined;
  /**
   * ms a write (or the flush inside `close()`) may go without the peer taking a piece of it (256
   * KiB; under 16 s, 16 bytes per ms of it): then it rejects with `WriteTimeoutError`, `ended`
   * says `timeout` and the connection is reset. Off when 0 or absent, except that `close()` always
   * bounds its flush (60 s per piece: see `close()`); `serve()` turns it on (60 s) for connections
   * that leave it absent.
   */
  writeTimeout?: number | undefined;
}

/**
 * Why the read side ended.
 *
 * @example
 * ```ts
 * const { reason } = await conn.ended; // "eof" | "truncated" | "reset" | "timeout" | "idle" | "aborted" | "local" | "error"
 * ```
 */
export type EndReason = EndInfo["reason"];

/**
 * What `Conn.ended` resolves with: a union discriminated by `reason`, where
 * `error` is present, and typed, exactly where there is one.
 *
 * - `eof`: the peer's FIN (TLS: after `close_notify`); `local`: our own close, reset or unwrap.
 * - `truncated`: a TLS peer's FIN without `close_notify`; `error` is absent with `allowTruncation`.
 * - `reset`, `idle`, `timeout`: the peer's RST, `idleTimeout`, an OS or write timeout.
 * - `aborted`: the `signal` passed in options; `error` when its reason is a `SocketError`.
 * - `error`: any other failure.
 *
 * @example
 * ```ts
 * const ended = await conn.ended;
 * if (ended.reason === "reset") console.log(ended.error.code); // "ECONNRESET", no `?.` needed
 * ```
 */
export type EndInfo =
  | { reason: "eof" | "local"; error?: undefined }
  | { reason: "truncated"; error?: TlsTruncatedError }
  | { reason: "reset"; error: ConnectionResetError }
  | { reason: "idle"; error: IdleTimeoutError }
  | { reason: "timeout"; error: TimedOutError | WriteTimeoutError }
  | { reason: "aborted"; error?: SocketError }
  | { reason: "error"; error: SocketError };

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
  signal?: AbortSignal | undefined;
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
  /**
   * Most bytes before `LimitExceededError`; default 65536. `readUntil` counts its delimiter in
   * them; `lines` counts a line without its `\n` / `\r\n`.
   */
  maxBytes?: number | undefined;
}

/**
 * Options of `peek`.
 *
 * @example
 * ```ts
 * const head = await conn.peek({ bytes: 4, signal: AbortSignal.timeout(5000) }); // at least 4 bytes, or fewer at EOF
 * ```
 */
export interface PeekOptions extends OperationOptions {
  /** Wait until at least this many bytes are buffered (default 1); fewer only at EOF. */
  bytes?: number | undefined;
}

/**
 * What a decoder answers: a message and the bytes it used; or how many bytes (in all) it needs
 * before it is worth calling again; or `undefined`: call again when any more bytes arrive.
 *
 * @example
 * ```ts
 * const result: DecodeResult<string> = { value: "PING", used: 6 };
 * ```
 */
export type DecodeResult<T> = { value: T; used: number } | { need: number } | undefined;

/**
 * Cuts messages out of the buffered bytes, synchronously: `conn.decode(decoder)` yields them
 * with one await per message. `bytes` is the buffered bytes from the next message on, as one
 * view: all of them, or a front part holding at least the `need` last asked for (a message
 * crossing from one chunk into the next is decoded from a copy of just that front, so the
 * chunks are not joined); it is called again with more while more is buffered. A message may
 * keep views into `bytes` (hangup never writes that memory again). A plain function (`DecodeFunction`) may stand in.
 * Each call starts from the message's first byte: a decoder that answers `undefined` for a big
 * message made of many parts (a long RESP array) re-reads it with every chunk that arrives, so
 * answer the `need` you know, or remember your progress between calls.
 *
 * @example
 * ```ts
 * // Length-prefixed frames: a 4-byte big-endian length, then the payload.
 * const frames: Decoder<Uint8Array> = {
 *   decode(bytes) {
 *     if (bytes.length < 4) return { need: 4 };
 *     const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
 *     if (bytes.length < 4 + size) return { need: 4 + size };
 *     return { value: bytes.subarray(4, 4 + size), used: 4 + size };
 *   },
 * };
 * for await (const frame of conn.decode(frames, { maxBytes: 1 << 20 })) console.log(frame.length);
 * ```
 */
export interface Decoder<T> {
  decode(bytes: Uint8Array<ArrayBuffer>): DecodeResult<T>;
}

/**
 * A decoder as a plain function, which `conn.decode()` takes as well as a `Decoder` object.
 *
 * @example
 * ```ts
 * // One byte per message: its value.
 * const bytes: DecodeFunction<number> = (bytes) => ({ value: bytes[0]!, used: 1 });
 * for await (const byte of conn.decode(bytes)) console.log(byte);
 * ```
 */
export type DecodeFunction<T> = (bytes: Uint8Array<ArrayBuffer>) => DecodeResult<T>;

/**
 * A connection whose `for await` ends at the peer's FIN, throws `ConnectionResetError`
 * at its RST, and never loses a byte. `Native` is the type of the runtime socket that
 * `unwrap()` hands out; each adapter's `connect`, `listen` and `wrap` name theirs.
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
export interface Conn<Native = unknown> extends AsyncIterable<Uint8Array<ArrayBuffer>, undefined, unknown>, AsyncDisposable {
  /**
   * Our end of the connection: for TCP the local interface and port the OS
   * chose; for a Unix socket the path we listen on, or `""` on the connecting
   * end (the kernel leaves it unnamed). Known synchronously, also after close.
   *
   * @example
   * ```ts
   * if (conn.localAddr.transport === "tcp") console.log(`from port ${conn.localAddr.port}`);
   * ```
   */
  readonly localAddr: Addr;
  /**
   * The peer's end: for TCP its address and port (`hostname` is the numeric
   * address, never a name that was looked up); for a Unix socket the path we
   * connected to, or `""` on the listening end (the client's end is unnamed).
   * Streams (`fromStreams`) report what they were given, or `{ transport: "tcp", hostname: "", port: 0 }`.
   *
   * @example
   * ```ts
   * const peer = conn.remoteAddr;
   * console.log(peer.transport === "tcp" ? `${peer.hostname}:${peer.port}` : peer.path);
   * ```
   */
  readonly remoteAddr: Addr;
  /** Set once a TLS handshake completed (connect/listen with `tls`, `startTls`); else undefined. */
  readonly tls: TlsInfo | undefined;

  /** The next bytes; `null` at EOF, forever. */
  read(options?: OperationOptions): Promise<Uint8Array<ArrayBuffer> | null>;
  /**
   * Every buffered byte, not consumed, once at least `bytes` (default 1) are buffered; at EOF
   * with fewer, what there is, or `null` if nothing. For sniffing a protocol by its first bytes.
   */
  peek(options?: PeekOptions): Promise<Uint8Array<ArrayBuffer> | null>;
  /**
   * Exactly `n` bytes, or `UnexpectedEofError` with the `partial` bytes (also when the peer
   * ended with nothing buffered: `partial` is then empty).
   *
   * "The peer is done" at a clean frame boundary is not an error: ask `peek()` before each
   * header. It resolves `null` at EOF with nothing buffered, so a FIN between frames ends the
   * loop, while a FIN inside a header or a payload still throws `UnexpectedEofError`, and an
   * RST throws `ConnectionResetError` from either. (`decode` does the same for a `Decoder`.)
   *
   * @example
   * ```ts
   * async function nextFrame(conn: Conn): Promise<Uint8Array | null> {
   *   if ((await conn.peek()) === null) return null; // the peer is done, between frames
   *   const header = await conn.readExactly(4);
   *   const size = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
   *   if (size > 1 << 20) throw new Error(`frame of ${size} bytes: over the 1 MiB this protocol allows`);
   *   return conn.readExactly(size); // buffers the whole frame: cap it, as above
   * }
   * for (let frame = await nextFrame(conn); frame !== null; frame = await nextFrame(conn)) handle(frame);
   * ```
   */
  readExactly(n: number, options?: OperationOptions): Promise<Uint8Array<ArrayBuffer>>;
  /** The bytes up to and including `delimiter`; `null` at a clean EOF with nothing buffered. */
  readUntil(delimiter: Uint8Array | string, options?: ScanOptions): Promise<Uint8Array<ArrayBuffer> | null>;
  /** UTF-8 lines without their `\n` / `\r\n`. */
  lines(options?: ScanOptions): AsyncIterableIterator<string, undefined, unknown>;
  /**
   * Discards bytes through the next `delimiter`, in bounded memory, and resolves with how many
   * it discarded (all of them at EOF; after a reset or a timeout it rejects with that error, the
   * rest discarded too). The way past a line that threw `LimitExceededError`. It discards as it
   * goes: an abort leaves what it had skipped discarded.
   */
  skipUntil(delimiter: Uint8Array | string, options?: OperationOptions): Promise<number>;
  /**
   * Messages cut by `decoder`, one await each. Ends at EOF on a message boundary; throws
   * `UnexpectedEofError` (with `partial`) at EOF inside one, `LimitExceededError` when a message
   * would be longer than `maxBytes` (default 65536): `maxBytes` buffered without a message, a
   * `need` over it, or a message that `used` more, however the bytes arrived (they stay buffered),
   * and whatever `decode` throws. Its `signal` is the whole iteration's: an abort, as anything the
   * iteration throws, ends it; for a deadline per message, call `decode()` per message.
   */
  decode<T>(decoder: Decoder<T> | DecodeFunction<T>, options?: ScanOptions): AsyncIterableIterator<T, undefined, unknown>;
  /** Bytes read from the OS and not yet consumed, known synchronously. */
  readonly buffered: number;
  /**
   * Stops reading and hands the socket over (typed per adapter), with the bytes already read
   * ahead. Throws a `TypeError` while a read is pending, and `SocketClosedError` (or the signal's
   * reason) once this side closed, reset, aborted or unwrapped the connection; after the peer's
   * FIN or reset it still hands the socket over.
   */
  unwrap(): { buffered: Uint8Array<ArrayBuffer>; native: Native };

  /** The read side is over; never rejects. */
  readonly ended: Promise<EndInfo>;
  /** Aborted when `ended` settles. */
  readonly signal: AbortSignal;
  /**
   * Closed and released: nothing more happens on this connection. After `close()` the socket
   * may still linger in the background for up to 2 s (see `close`).
   */
  readonly closed: Promise<void>;

  /**
   * Resolves when the runtime accepted the bytes; awaiting it is backpressure. Writes issued
   * without awaiting each go to the runtime together (at most 64 KiB at a time, in order); while
   * input is still buffered they wait until the reader has drained it or waits for more, one
   * event-loop turn at most. A write that fails (or is aborted) and that nobody awaits is never
   * reported as an unhandled rejection; a bad argument is. The bytes
   * are not copied: change `data` only once the write resolved. An abort rejects with the signal's
   * reason: a write not yet handed to the runtime never goes, one already going goes whole.
   */
  write(data: Uint8Array | string, options?: OperationOptions): Promise<void>;
  /**
   * Half-close: FIN after pending writes; reading goes on. A rejection nobody awaits is never
   * reported as unhandled.
   */
  closeWrite(): Promise<void>;
  /**
   * Flush pending writes, close both ways; idempotent. Always settles: a flush the peer does not
   * take ends in a reset after `writeTimeout`, or 60 s when the connection has none (big writes go
   * in pieces of 256 KiB whether or not it has one: the 60 s restart with each piece the peer
   * takes). On Node, Deno and Bun, once bytes were written (or over TLS) and the peer has not
   * ended: the FIN is sent (over TLS, close_notify first), `close()` resolves, and the socket
   * reads on, dropping what comes, until the peer's FIN or 2 s, keeping the process alive as an
   * open socket does. Bytes reaching a closed socket make the kernel answer with an RST that
   * discards what it still holds for the peer; this linger keeps that from happening within
   * those 2 s, also when the script ends right after `close()` (`reset()` ends it at once).
   * On Workers, whose request's end drops its sockets, `close()` resolves only once that linger
   * ended: awaiting it keeps the request alive until the peer has our bytes.
   */
  close(): Promise<void>;
  /**
   * Abortive close: RST where the runtime can (Deno and Workers: a FIN); idempotent. Writes not
   * yet handed to the OS are dropped, and the RST also discards what the OS still held for the
   * peer, so even resolved writes may never arrive: `close()` is the way to deliver them.
   */
  reset(): void;
  /**
   * Lets the process exit while this connection is open, as `unref()` does for a Node socket:
   * its socket, the read hangup keeps pending on it, and its timers (`idleTimeout`, `heartbeat`,
   * `writeTimeout`) stop keeping the process alive. For connections resting in a pool (what
   * node-postgres calls `allowExitOnIdle`): `ref()` one before using it again, since a read that
   * waits on an unref'd connection lets the process exit under it. A write going out still holds
   * the process until the runtime took its bytes; `close()` refs the connection again for its
   * flush and linger (an `unref()` after it is ignored); `unwrap()` hands the socket over ref'd,
   * and the connection `startTls()` makes is ref'd. Nothing to do on Workers.
   *
   * @example
   * ```ts
   * idle.push(conn);
   * conn.unref(); // an idle pooled connection does not keep a script from ending
   * // ...later, taken from the pool:
   * conn.ref();
   * await conn.write(query);
   * ```
   */
  unref(): void;
  /** Undoes `unref()`: the connection keeps the process alive again, as it does from the start. */
  ref(): void;
}

/**
 * A listening socket: iterate it, or `accept()`, to get connections. `A` is the
 * kind of address it listens on (`TcpAddr` after `listen({ port })`, `UnixAddr`
 * after `listen({ path })`), `Native` the runtime socket of its connections.
 *
 * @example
 * ```ts
 * await using listener = await listen({ port: 0 });
 * console.log(listener.addr.port);
 * for await (const conn of listener) conn.ended.then(({ reason }) => console.log(reason));
 * ```
 */
export interface Listener<A extends Addr = Addr, Native = unknown>
  extends AsyncIterable<Conn<Native>, undefined, unknown>, AsyncDisposable {
  /** Where it listens; for TCP with the port the OS picked when 0 or none was asked. */
  readonly addr: A;
  /** The next connection; `null` once the listener is closed. */
  accept(options?: OperationOptions): Promise<Conn<Native> | null>;
  /**
   * Stop accepting; iteration and pending `accept()` end; established connections stay. Clients
   * that connected but were never accepted are reset (on Deno, which cannot reset, closed with
   * a FIN). Idempotent.
   */
  close(): Promise<void>;
  /**
   * Lets the process exit while the listener is open, as `unref()` does for a Node server: a
   * pending `accept()` or `serve()` no longer keeps it alive, nor do clients waiting to be
   * accepted. Connections it hands out are their own (`Conn.unref()`). Nothing to do on Workers.
   *
   * @example
   * ```ts
   * const metrics = await listen({ port: 9100 });
   * metrics.unref(); // serves while the program runs, never keeps it running
   * void serve(metrics, answerMetrics);
   * ```
   */
  unref(): void;
  /** Undoes `unref()`: the listener keeps the process alive again, as it does from the start. */
  ref(): void;
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
  /** SNI, and the name the peer's certificate must match; default: the hostname connected to ("localhost" over a Unix socket). */
  serverName?: string | undefined;
  /** PEM roots to trust instead of the runtime's store. */
  ca?: string | string[] | undefined;
  /** PEM certificate chain: required to listen; a client certificate when connecting. */
  cert?: string | undefined;
  /** PEM private key of `cert`. */
  key?: string | undefined;
  /** ALPN protocols to offer (client) or accept (server), in order of preference. */
  alpnProtocols?: string[] | undefined;
  /** Reject a peer whose certificate does not verify; default true. */
  rejectUnauthorized?: boolean | undefined;
  /** A FIN without close_notify ends the read side cleanly; `ended` still says "truncated". */
  allowTruncation?: boolean | undefined;
  /** ms to wait for the handshake (a listener drops the connection after it); default 10000. */
  handshakeTimeout?: number | undefined;
  /**
   * `listen` only: handshakes a listener runs at once, default 128. A connection takes one at its
   * first byte (until then it has no TLS layer, a fraction of a handshake's memory); one whose
   * bytes come while all are taken waits for one. `handshakeTimeout` counts from the accept, time
   * spent silent or waiting included. Eight times as many connections are kept in their handshake:
   * past that the oldest that have not sent a byte are dropped (so clients that connect and send
   * nothing cannot keep a real client out), or, when each has, the newest waiting.
   */
  maxHandshakes?: number | undefined;
}

/**
 * TLS options of a listener or a server-side `startTls`: `TlsOptions` with the certificate
 * chain and its key, which accepting TLS connections needs.
 *
 * @example
 * ```ts
 * const tls: ServerTlsOptions = { cert: certPem, key: keyPem, alpnProtocols: ["h2", "http/1.1"] };
 * const listener = await listen({ port: 8443, tls });
 * ```
 */
export type ServerTlsOptions = TlsOptions & { cert: string; key: string };

/**
 * What a completed TLS handshake negotiated.
 *
 * @example
 * ```ts
 * console.log(conn.tls);
 * // { protocol: "TLSv1.3", alpnProtocol: "h2", serverName: "example.com", peerCertificate: Uint8Array(…) }
 * ```
 */
export interface TlsInfo {
  /** The protocol version, e.g. "TLSv1.3". */
  protocol: string;
  /** The negotiated ALPN protocol, or null. */
  alpnProtocol: string | null;
  /** The SNI name: sent (client) or received (server); null without one. */
  serverName: string | null;
  /**
   * The peer's certificate as DER bytes (a client sees the server's), for what needs the exact
   * certificate: Postgres' SCRAM-SHA-256-PLUS channel binding (`tls-server-end-point` hashes it),
   * pinning. Null when the peer sent none (a client, as hangup asks none), or on Workers (no API).
   */
  peerCertificate: Uint8Array<ArrayBuffer> | null;
}
