import type { Addr, TlsInfo } from "./types.ts";

/**
 * What a connection source tells the core. An adapter calls these from its
 * runtime's callbacks; the core owns every policy (buffering, end state, errors).
 *
 * @example
 * ```ts
 * // A ConnSource's start(), over a socket with Node-style events:
 * function start(sink: ConnSink): void {
 *   socket.on("data", (bytes) => sink.data(bytes));
 *   socket.on("end", () => sink.end());
 *   socket.on("error", (err) => sink.error(err));
 *   socket.on("close", () => sink.closed());
 * }
 * ```
 */
export interface ConnSink {
  /**
   * Bytes from the peer, in order, over an ArrayBuffer (not a SharedArrayBuffer: the core hands
   * them out typed so). The core keeps the chunk: do not reuse its memory.
   */
  data(chunk: Uint8Array): void;
  /**
   * The peer's FIN: no more bytes will come. Only for a real FIN, never for a reset.
   * A TLS source passes `{ truncated: true }` for a FIN without close_notify the user allowed
   * (`allowTruncation`); a truncation not allowed is `error(new TlsTruncatedError())`.
   */
  end(info?: { truncated?: boolean }): void;
  /** The transport failed; pass the runtime's error unchanged, the core maps it with `toSocketError`. */
  error(err: unknown): void;
  /** The handle is released. Call once, after `end`/`error` if any; calls after it are ignored. */
  closed(): void;
}

/**
 * The adapter contract: one runtime socket, translated. Build a `Conn` from it
 * with `createConn(source, options)`.
 *
 * Rules an adapter keeps:
 * - `start` is called once; before it no sink method may be called.
 * - `pause` / `resume` are advice: a chunk already on its way may still arrive.
 * - `write` is not called again before the previous call settled, except once at
 *   `Conn.unwrap()`, right before `detach`: the rest of a write sent in pieces, which
 *   must go out after the pending one. It resolves when the runtime accepted the
 *   bytes, and rejects with the runtime's error.
 * - `close`, `destroy` and `reset` may be called in any order, more than once,
 *   and may call sink methods synchronously; every path ends in `sink.closed()`.
 *
 * @example
 * ```ts
 * import { createConn, type ConnSource } from "hangup/core";
 * const source: ConnSource = {
 *   localAddr, remoteAddr, native: socket,
 *   start(sink) {
 *     socket.onData = (bytes) => sink.data(bytes);
 *     socket.onEnd = () => sink.end(); // a real FIN only
 *     socket.onClose = (err) => { if (err) sink.error(err); sink.closed(); }; // every path ends here
 *   },
 *   pause() { socket.pause(); }, resume() { socket.resume(); },
 *   write: (bytes) => socket.writeAll(bytes),
 *   closeWrite: () => socket.shutdown(),
 *   close: () => socket.close(),
 *   destroy() { socket.destroy(); }, reset() { socket.abort(); },
 *   detach() { socket.pause(); }, // unwrap(): stop reading, leave the socket open
 * };
 * const conn = createConn(source, { idleTimeout: 30_000 });
 * ```
 */
export interface ConnSource<Native = unknown> {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  /** The runtime's socket, handed out by `Conn.unwrap()`. */
  readonly native: Native;
  /** What the TLS handshake negotiated, for a source that speaks TLS; absent for plaintext. */
  readonly tls?: TlsInfo | undefined;
  /** Begin reading and reporting to `sink`. */
  start(sink: ConnSink): void;
  /** Stop reading from the OS (the core holds `highWaterMark` unread bytes). */
  pause(): void;
  /** Read from the OS again. */
  resume(): void;
  /** Write all of `bytes`; resolve once the runtime accepted them. */
  write(bytes: Uint8Array): Promise<void>;
  /** Send FIN after pending writes; reading goes on. */
  closeWrite(): Promise<void>;
  /**
   * Graceful close of both directions: the bytes already accepted by `write` are sent, then a
   * FIN, and the handle is released; resolves when it is (`sink.closed()` called). The core calls
   * it once the connection is done, or for `conn.close()`; if it rejects, the core calls `destroy`.
   */
  close(): Promise<void>;
  /**
   * Release the handle now, without waiting for pending writes and without an RST where the
   * runtime can tell the two apart (the kernel sends a FIN). Ends in `sink.closed()`. Where the
   * runtime has no such call, the nearest one, said in the adapter's opening comment (Bun: its
   * graceful `end()`; Deno: `conn.close()`).
   */
  destroy(): void;
  /**
   * Abortive close: an RST where the runtime can (SO_LINGER 0, `resetAndDestroy`, `terminate`),
   * pending writes dropped, the handle released, ending in `sink.closed()`. A runtime with no
   * RST does its `destroy` instead and exports `capabilities.reset: false` (Deno: close,
   * destroy and reset are all `conn.close()`, a FIN).
   */
  reset(): void;
  /** Stop reporting to the sink and reading, leaving the socket open (for `Conn.unwrap`). */
  detach(): void;
  /**
   * Whether the handle (its socket, a read pending on it) keeps the process alive, for
   * `Conn.ref()` / `unref()`. While it does not, a write going out still does, so the bytes
   * reach the kernel. Absent where there is no process to keep (Workers, streams).
   */
  setRef?(referenced: boolean): void;
  /**
   * A source that has it gets a lingering `close()`. Closing a socket with bytes unread, or
   * getting bytes after it closed, makes the kernel answer with an RST, which discards what it
   * still holds for the peer. So when `conn.close()` comes with the peer not yet ended, and bytes
   * were written (or the source speaks TLS), the core keeps the source reading during the flush
   * and drops what comes, sends the FIN with `closeWrite` (or waits for the user's), then calls
   * `linger()` and goes on reading until the peer's FIN, an error, `closed`, or 2 s: then
   * `destroy`. Meanwhile the handle keeps the process alive as an open socket does (the core's
   * timer is unref'd: the 2 s bound it keeps is the handle's), so a script that ends right after
   * `close()` does not lose what the kernel still holds. If the peer's FIN or a failure came during the flush, the core calls `close`
   * instead. A source without it is closed at once.
   */
  readonly linger?: (() => void) | undefined;
  /**
   * With `linger`: `conn.close()` resolves only once the linger ended (the peer's FIN, an error,
   * or 2 s), for a runtime that drops a socket when the work that opened it ends (a Worker's
   * request), so that awaiting `close()` keeps that work alive until the peer has our bytes.
   */
  readonly closeAwaitsLinger?: boolean | undefined;
  /** TCP keepalive: initial delay in ms, or `false` for off. */
  setKeepAlive?(delay: number | false): void;
  /** TCP_NODELAY. */
  setNoDelay?(noDelay: boolean): void;
}

/**
 * What a listening source tells the core.
 *
 * @example
 * ```ts
 * // A ListenerSource's start(), over a server with Node-style events:
 * function start(sink: ListenerSink): void {
 *   server.on("connection", (socket) => sink.connection(toSource(socket)));
 * }
 * ```
 */
export interface ListenerSink<Native = unknown> {
  /** A new connection, not yet reading (it starts when the core calls `start`). */
  connection(source: ConnSource<Native>): void;
}

/**
 * The adapter contract for a listening socket. Build a `Listener` from it with
 * `createListener(source, options)`.
 *
 * @example
 * ```ts
 * import { createListener, type ListenerSource } from "hangup/core";
 * const source: ListenerSource = {
 *   addr: { transport: "tcp", hostname: "127.0.0.1", port: server.port },
 *   start(sink) { server.onConnection = (socket) => sink.connection(toSource(socket)); },
 *   close: () => server.close(),
 * };
 * const listener = createListener(source);
 * ```
 */
export interface ListenerSource<A extends Addr = Addr, Native = unknown> {
  readonly addr: A;
  /** Begin accepting and reporting to `sink`. */
  start(sink: ListenerSink<Native>): void;
  /** Stop accepting from the OS while the core's queue is full, where the runtime can. */
  readonly pause?: (() => void) | undefined;
  /** Accept again. */
  readonly resume?: (() => void) | undefined;
  /** Whether the listening handle keeps the process alive (`Listener.ref()` / `unref()`); absent where there is no process. */
  readonly setRef?: ((referenced: boolean) => void) | undefined;
  /** Stop listening; resolves when the address is released. */
  close(): Promise<void>;
}
