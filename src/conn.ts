import { addAbortListener, removeAbortListener } from "./abort-listeners.ts";
import { type Bytes, ChunkQueue } from "./chunk-queue.ts";
import { LineCutter, takeLine } from "./line-cutter.ts";
import {
  IdleTimeoutError,
  LimitExceededError,
  SocketClosedError,
  SocketError,
  TlsTruncatedError,
  UnexpectedEofError,
  WriteTimeoutError,
} from "./errors.ts";
import { holdProcess, MAX_TIMER_DELAY, setLongTimeout } from "./long-timeout.ts";
import {
  checkInteger,
  checkOptionsObject,
  checkSignal,
  CONN_OPTION_KEYS,
  DEFAULT_LIMIT,
  describe,
  OPERATION_OPTION_KEYS,
  PEEK_OPTION_KEYS,
  refuseUnknownOptions,
  resolveConnOptions,
  type ResolvedConnOptions,
  SCAN_OPTION_KEYS,
  toBytes,
} from "./options.ts";
import type { ConnSink, ConnSource } from "./source.ts";
import { type SocketOperation, toSocketError } from "./to-socket-error.ts";
import type {
  Addr,
  Conn,
  ConnOptions,
  DecodeFunction,
  Decoder,
  DecodeResult,
  EndInfo,
  EndReason,
  OperationOptions,
  PeekOptions,
  ScanOptions,
  TlsInfo,
} from "./types.ts";

const WAIT: unique symbol = Symbol("wait");
const SETTLED: Promise<void> = Promise.resolve();
/** One turn of the event loop: `setImmediate` where the runtime has it (Node, Deno, Bun), else a zero timeout (Workers). */
const nextTurn: (callback: () => void) => void = typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
  ? (callback) => void (globalThis as unknown as { setImmediate(callback: () => void): unknown }).setImmediate(callback)
  : (callback) => void setTimeout(callback, 0);
/** One try at answering a read from the buffer; given the connection, so shared attempts need no closure. */
type Attempt<T> = (conn: SourceConn) => T | typeof WAIT;

/** The one read a connection may have pending, and how to settle it. */
interface PendingRead {
  attempt: Attempt<unknown>;
  signal: AbortSignal | undefined;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  onAbort: (() => void) | undefined;
}

/** One `write()` call, from the moment it is queued until its promise settles. */
interface WriteRequest {
  bytes: Uint8Array;
  /** Later writes that joined this one (no signal of their own, the whole under 64 KiB): one promise for all. */
  more: Uint8Array[] | undefined;
  /** Bytes in `bytes` and `more`. */
  size: number;
  /** How far the source has taken `bytes` (a big write goes in pieces of PIECE_BYTES or less). */
  offset: number;
  promise: Promise<void>;
  settled: boolean;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Small writes queued behind each other go to the runtime as one buffer of at most this many bytes. */
const COALESCE_BYTES = 65536;
/**
 * A big write goes in pieces, so that progress is seen: of this size, or, under a write timeout
 * of 16 s or less, of PIECE_BYTES_PER_MS per ms of it and at least MIN_PIECE_BYTES. A reader is
 * cut only when it takes less than a piece within the timeout (60 s: 4.4 KB/s; 1 s: 16 KB/s).
 * Also without a write timeout: a write handed over whole could not be bounded by its progress
 * once `close()` gives the flush its 60 s.
 */
const PIECE_BYTES = 262144;
const MIN_PIECE_BYTES = 16384;
const PIECE_BYTES_PER_MS = 16;
/** The write timeout a `close()` gives its flush when the connection has none (serve()'s default). */
const CLOSE_FLUSH_TIMEOUT = 60_000;
/**
 * How long a closed connection lingers for the peer's FIN, reading and dropping what it sends (as
 * Apache's lingering close does): the kernel answers bytes that reach a closed socket with an RST,
 * which destroys what it still holds of ours.
 */
const LINGER_MS = 2000;

const noop = (): void => {};

/** A rejected promise already marked handled: nobody awaiting it is not an unhandled rejection. */
function handledRejection(reason: unknown): Promise<never> {
  const promise = Promise.reject(reason);
  promise.catch(noop);
  return promise;
}

/** One `decode()` loop: its decoder, limit, and how many bytes it waits for. */
interface DecodeState<T> {
  decode: (bytes: Bytes) => DecodeResult<T>;
  maxBytes: number;
  need: number;
  /** The bytes the decoder was last given without a message: the next window is at least twice that. */
  tried: number;
}

/** Why our side stopped the connection: every later operation is refused. */
type Stop = { by: "local" | "unwrapped" | "upgraded" } | { by: "aborted"; reason: unknown };

/**
 * How far a connection is, in one value. It only moves forward: open → ended → stopped, or
 * open → stopped.
 * - `open`: bytes may still come.
 * - `ended`: the peer is done (`error` null for a FIN): buffered bytes stay readable, then reads
 *   meet the end (null, or the error, sticky). Writing may go on (half-close).
 * - `stopped`: our side stopped it (close, reset, abort, unwrap): every later operation is refused.
 */
type ReadSide = { state: "open" } | { state: "ended"; error: SocketError | null } | { state: "stopped"; stop: Stop };
const OPEN: ReadSide = Object.freeze({ state: "open" });
const AT_EOF: ReadSide = Object.freeze({ state: "ended", error: null });

/**
 * Builds a `Conn` over an adapter's source: the one place where buffering,
 * backpressure, the end state, errors, timeouts and aborts are decided.
 *
 * @param source the runtime socket, translated (see `ConnSource`)
 * @param options `ConnOptions`; a bad one throws a TypeError or RangeError naming it
 * @example
 * ```ts
 * import { createConn } from "hangup/core";
 * const conn = createConn(mySource, { idleTimeout: 30_000 });
 * for await (const chunk of conn) console.log(chunk.length);
 * ```
 */
export function createConn<Native = unknown>(source: ConnSource<Native>, options?: ConnOptions): Conn<Native> {
  if (typeof source !== "object" || source === null || typeof source.start !== "function") {
    throw new TypeError(`source must be a ConnSource (an object with start(), write(), close(), ...), got ${describe(source)}`);
  }
  refuseUnknownOptions(checkOptionsObject(options, "options"), "a connection", CONN_OPTION_KEYS);
  return new SourceConn(source, resolveConnOptions(options)) as Conn<Native>;
}

/** `createConn` with options already checked: a listener resolves them once for all its connections. */
export function createConnResolved<Native = unknown>(source: ConnSource<Native>, options: ResolvedConnOptions): Conn<Native> {
  return new SourceConn(source, options) as Conn<Native>;
}

/**
 * The runtime socket `conn.unwrap()` would hand out, without unwrapping: what `startTls` checks
 * before it takes the connection over. Undefined for a `Conn` not made by `createConn`.
 */
export function nativeOf(conn: Conn): unknown {
  return conn instanceof SourceConn ? conn.sourceNative : undefined;
}

/** Conns being unwrapped by `startTls()` (unwrapForUpgrade): what they refuse later says so. */
const upgrading = new WeakSet<Conn>();

/**
 * `conn.unwrap()` for `startTls()`: the connection's later operations, and its `signal`, say it
 * was handed to `startTls()` (which may still fail) rather than unwrapped.
 */
export function unwrapForUpgrade(conn: Conn): { buffered: Bytes; native: unknown } {
  upgrading.add(conn);
  try {
    return conn.unwrap();
  } finally {
    upgrading.delete(conn);
  }
}

/** Whether a read is pending on `conn` (false for a `Conn` not made by `createConn`). */
export function readPending(conn: Conn): boolean {
  return conn instanceof SourceConn && conn.readPending;
}

/**
 * Gives `conn` a write timeout of `ms` unless its options set one (0 included): how `serve()`
 * bounds every write and close by default. A `Conn` not made by `createConn` is left alone.
 */
export function defaultWriteTimeout(conn: Conn, ms: number): void {
  if (conn instanceof SourceConn) conn.defaultWriteTimeout(ms);
}

/**
 * The options a connection upgraded from `conn` (`startTls`) starts with: `conn`'s own, its write
 * timeout as it stands (serve()'s default included); `{}` for a `Conn` not made by `createConn`.
 */
export function inheritedConnOptions(conn: Conn): ConnOptions {
  return conn instanceof SourceConn ? conn.inheritedOptions() : {};
}

/** Each upgraded connection, to the one that replaced it (startTls). */
const upgrades = new WeakMap<Conn, Conn>();

/** Connections reset for good (serve()'s shutdown): one upgraded from them later is reset at once. */
const resetForGood = new WeakSet<Conn>();

/** Upgrades whose handshake is running, each with what stops it (resets its connection). */
const handshaking = new WeakMap<Conn, () => void>();

/**
 * `startTls` consumed `from` and runs the handshake of its upgrade: a shutdown that resets
 * `from` meanwhile calls `stop`. Returns what to call once the handshake is over, either way.
 */
export function recordHandshake(from: Conn, stop: () => void): () => void {
  handshaking.set(from, stop);
  return () => {
    if (handshaking.get(from) === stop) handshaking.delete(from);
  };
}

/** `startTls` replaced `from` with `to`: whoever holds `from` (serve()) closes `to` in its place. */
export function recordUpgrade(from: Conn, to: Conn): void {
  upgrades.set(from, to);
  // A shutdown reset `from` while its handshake ran: the upgrade does not outlive it.
  if (resetForGood.has(from)) resetConnForGood(to);
}

/** Resets `conn`, or the connection it was upgraded to, and any it is upgraded to later. */
export function resetConnForGood(conn: Conn): void {
  resetForGood.add(conn);
  const current = currentConn(conn);
  resetForGood.add(current);
  current.reset();
  // Consumed by startTls and handshaking: reset() above was a no-op, the handshake is what runs.
  handshaking.get(current)?.();
}

/** The connection that stands for `conn` now: the last one it was upgraded to, or itself. */
export function currentConn<Native>(conn: Conn<Native>): Conn<Native> {
  let current: Conn = conn;
  for (let next = upgrades.get(current); next !== undefined; next = upgrades.get(current)) current = next;
  return current as Conn<Native>;
}

/** Hands the source's reports to the connection (one small object, not a closure per method). */
class SourceSink implements ConnSink {
  constructor(readonly conn: SourceConn) {}
  data(chunk: Uint8Array): void {
    // Every runtime's chunk is over an ArrayBuffer (ConnSink.data); the type cannot say so.
    sinkDelivery.data(this.conn, chunk as Bytes);
  }
  end(info?: { truncated?: boolean }): void {
    sinkDelivery.end(this.conn, info?.truncated === true);
  }
  error(err: unknown): void {
    sinkDelivery.error(this.conn, err);
  }
  closed(): void {
    sinkDelivery.closed(this.conn);
  }
}

let sinkDelivery: {
  data(conn: SourceConn, chunk: Bytes): void;
  end(conn: SourceConn, truncated: boolean): void;
  error(conn: SourceConn, err: unknown): void;
  closed(conn: SourceConn): void;
};

class SourceConn implements Conn {
  static {
    sinkDelivery = {
      data: (conn, chunk) => conn.#onData(chunk),
      end: (conn, truncated) => conn.#onEnd(truncated),
      error: (conn, err) => conn.#onError(toSocketError(err, "read")),
      closed: (conn) => conn.#onClosed(),
    };
  }

  readonly #source: ConnSource;
  readonly #options: ResolvedConnOptions;
  readonly #queue = new ChunkQueue();
  /** Made on first use of `signal`: most connections never ask, and it costs about a KiB. */
  #controller: AbortController | undefined;
  #signalReason: unknown;
  // `ended` and `closed` are made on first use: a promise and its resolvers cost ~200 bytes,
  // and many connections (a request, a reply, close) never look.
  #ended: Promise<EndInfo> | undefined;
  #resolveEnded: ((info: EndInfo) => void) | undefined;
  #endInfo: EndInfo | undefined;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  /** How far the connection is; every read, event and guard consults this one field. */
  #read: ReadSide = OPEN;
  /** The write side: shut by closeWrite(), and the first failure of the transport, which later writes report. */
  #writeClosed = false;
  /** Our FIN went out (closeWrite() finished): the peer's FIN then ends the connection. */
  #writeShut = false;
  #failure: SocketError | undefined;
  /** The source reported `closed`: the handle is released. */
  #sourceClosed = false;
  /** `close()` finished and the source lingers for the peer's FIN: the connection is closed for its user. */
  #lingered = false;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves when the linger ends, for a source whose close() waits for it (`closeAwaitsLinger`). */
  #lingerEnded: (() => void) | undefined;
  /** The source reported the peer's FIN or a failure: nothing more will come, even after our close. */
  #peerDone = false;
  /** Bytes were handed to the source: a close must not let an RST discard them (see LINGER_MS). */
  #wrote = false;
  #resetAsked = false;
  /** The user's `closeWrite()`, which `close()` waits for before it lingers. */
  #writeClosing: Promise<void> | undefined;

  #reading = false;
  #pending: PendingRead | undefined;
  #stepScheduled = false;
  /** A pending read needs more bytes, even above the high-water mark. */
  #wanting = false;
  #paused = false;

  #lastDelimiter: { text: string; bytes: Uint8Array } | undefined;

  /** Writes not yet handed to the source, oldest first; made on first use. */
  #writeQueue: WriteRequest[] | undefined;
  /** The batch the source is writing now, if any. */
  #inFlight: WriteRequest[] | undefined;
  /** The bytes of the current piece, when the batch is one big write sent in pieces. */
  #pieceEnd = 0;
  /** The rest of a write sent in pieces, handed to the source whole at `unwrap()`. */
  #restHandedOver: Promise<void> | undefined;
  #flushScheduled = false;
  /** Writes wait while input is still buffered: the application is mid-batch, and its replies go together. */
  #flushHeld = false;
  #heldTurn = false;
  /** Waiting for every queued write to settle (closeWrite, close). */
  #flushWaiters: (() => void)[] | undefined;
  /** 0 when off; `serve()` may set it on a connection that left it absent. */
  #writeTimeout = 0;
  /** The most bytes of small writes one runtime write joins: COALESCE_BYTES, or a smaller piece. */
  #joinLimit = COALESCE_BYTES;
  #cancelWriteTimer: (() => void) | undefined;
  /** When the runtime write in flight started (only kept with a write timeout), and its size. */
  #flushStartedAt = 0;
  #flushBytes = 0;
  #closing: Promise<void> | undefined;

  // Made on first use: a connection without a signal, idle timeout or heartbeat pays for none.
  #onAbort: (() => void) | undefined;
  #checkIdle: (() => void) | undefined;
  #beat: (() => void) | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last byte came; kept only with an idle timeout. */
  #lastData = 0;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last write began; kept only with a heartbeat. */
  #lastWrite = 0;
  /** Whether the connection keeps the process alive (`ref()`, `unref()`). */
  #referenced = true;

  constructor(source: ConnSource, options: ResolvedConnOptions) {
    this.#source = source;
    this.#options = options;
    this.#setWriteTimeout(options.writeTimeout ?? 0);

    if (options.noDelay !== undefined) source.setNoDelay?.(options.noDelay);
    if (options.keepAlive !== undefined) source.setKeepAlive?.(options.keepAlive);

    if (options.idleTimeout !== 0) this.#lastData = Date.now();
    if (options.heartbeat) this.#lastWrite = Date.now();
    const sink = new SourceSink(this);
    source.start(sink);
    this.#armIdle();
    this.#armHeartbeat(options.heartbeat?.interval ?? 0);

    const signal = options.signal;
    if (signal) {
      this.#onAbort = () => {
        if (!this.#halt({ by: "aborted", reason: signal.reason })) return;
        this.#dropWrites(() => signal.reason);
        this.#source.destroy();
      };
      if (signal.aborted) this.#onAbort();
      else addAbortListener(signal, this.#onAbort);
    }
  }

  /** See `nativeOf()`. */
  get sourceNative(): unknown {
    return this.#source.native;
  }

  /** See `readPending()`. */
  get readPending(): boolean {
    return this.#reading;
  }

  /** See `defaultWriteTimeout()`. */
  defaultWriteTimeout(ms: number): void {
    if (this.#options.writeTimeout === undefined) this.#setWriteTimeout(ms);
  }

  inheritedOptions(): ConnOptions {
    const o = this.#options;
    return {
      idleTimeout: o.idleTimeout,
      keepAlive: o.keepAlive,
      noDelay: o.noDelay,
      highWaterMark: o.highWaterMark,
      heartbeat: o.heartbeat,
      signal: o.signal,
      writeTimeout: this.#writeTimeout,
    };
  }

  get localAddr(): Addr {
    return this.#source.localAddr;
  }

  get remoteAddr(): Addr {
    return this.#source.remoteAddr;
  }

  get tls(): TlsInfo | undefined {
    return this.#source.tls;
  }

  get ended(): Promise<EndInfo> {
    if (!this.#ended) {
      this.#ended = this.#endInfo ? Promise.resolve(this.#endInfo) : new Promise((resolve) => (this.#resolveEnded = resolve));
    }
    return this.#ended;
  }

  get closed(): Promise<void> {
    if (!this.#closed) {
      const released = this.#sourceClosed || this.#lingered || this.#isUnwrapped();
      this.#closed = released ? Promise.resolve() : new Promise((resolve) => (this.#resolveClosed = resolve));
    }
    return this.#closed;
  }

  /** The handle is released (the source closed), lingers after `close()`, or is handed out (`unwrap()`): `closed` resolves. */
  #markClosed(): void {
    // A write still in flight stays bounded by the write timer (a source may never settle it).
    if (!this.#inFlight) this.#stopWriteTimer();
    this.#resolveClosed?.();
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#endInfo) this.#controller.abort(this.#signalReason);
    }
    return this.#controller.signal;
  }

  // ---- events from the source -------------------------------------------

  #onData(chunk: Bytes): void {
    if (this.#read !== OPEN) return;
    this.#queue.push(chunk);
    if (this.#options.idleTimeout !== 0) this.#lastData = Date.now();
    // At the high-water mark the source pauses, even while a read waits for more bytes than it
    // has (a long line, a big frame): that read resumes it once it has looked at this chunk. So
    // above the mark bytes come one chunk at a time, and a reader that gives up (a limit, an
    // abort) leaves no further read in flight. A read waiting on an empty buffer takes the chunk.
    const queued = this.#queue.length;
    if (!this.#paused && queued >= this.#options.highWaterMark && (!this.#wanting || queued > chunk.length)) this.#setPaused(true);
    this.#wakeReader();
  }

  #onEnd(truncated: boolean): void {
    this.#peerDone = true;
    if (this.#lingered) return this.#endLinger();
    if (this.#read !== OPEN) return;
    this.#read = AT_EOF;
    this.#settle(truncated ? "truncated" : "eof");
    this.#stopWriteTimerIfEnded();
    this.#wakeReader();
    // Not at closeWrite() itself: the writes before it may still be flushing.
    if (this.#writeShut) this.#release();
  }

  #onError(error: SocketError): void {
    this.#peerDone = true;
    if (this.#lingered) return this.#endLinger();
    // The kernel says EPIPE only once the peer's FIN came (an RST after it answers our writes):
    // the read side ended with that FIN, and only writing failed (SPEC 2). Node and Bun report
    // such a write failure as a socket error.
    if (error.code !== "EPIPE") return this.#fail(error);
    this.#failure ??= relabel(error, "write");
    this.#dropWrites(() => this.#failure);
    this.#onEnd(false);
    if (!this.#sourceClosed) void SETTLED.then(() => this.#releaseFailed());
  }

  /** The transport failed: reads meet `error` after the buffered bytes; the handle is released. */
  #fail(error: SocketError): void {
    this.#failure ??= error;
    if (this.#read === OPEN) {
      this.#read = { state: "ended", error };
      this.#settle(endReasonOf(error), error);
      this.#wakeReader();
    }
    this.#dropWrites(() => relabel(error, "write"));
    // Released a microtask later, so the callbacks this failure queued on `ended` run first:
    // closing a runtime's handle is not free, and the app should not wait for it.
    if (!this.#sourceClosed) void SETTLED.then(() => this.#releaseFailed());
  }

  #releaseFailed(): void {
    if (!this.#sourceClosed && !this.#isUnwrapped()) this.#source.destroy();
  }

  #onClosed(): void {
    if (this.#sourceClosed) return;
    this.#sourceClosed = true;
    this.#endLinger();
    if (this.#read === OPEN) {
      // A source that closes without reporting end or error: nothing more can come.
      this.#read = AT_EOF;
      this.#settle("eof");
    }
    if (this.#onAbort) removeAbortListener(this.#options.signal!, this.#onAbort);
    this.#wakeReader();
    this.#markClosed();
  }

  // ---- state --------------------------------------------------------------

  #settle(reason: EndReason, error?: SocketError, signalReason?: unknown): void {
    if (this.#endInfo) return;
    this.#endInfo = (error ? { reason, error } : { reason }) as EndInfo;
    this.#stopTimers();
    this.#resolveEnded?.(this.#endInfo);
    this.#signalReason = signalReason ?? error ?? signalReasonFor(reason);
    this.#controller?.abort(this.#signalReason);
  }

  /** Our side stops the connection; false if it was already stopped. */
  #halt(stop: Stop): boolean {
    if (this.#read.state === "stopped") return false;
    this.#read = { state: "stopped", stop };
    const abortReason = stop.by === "aborted" ? stop.reason : undefined;
    const signalReason = stop.by === "unwrapped" || stop.by === "upgraded"
      ? new SocketClosedError(`The connection ${SourceConn.#stopWhy(stop.by)}`)
      : abortReason;
    this.#settle(stop.by === "aborted" ? "aborted" : "local", abortReason instanceof SocketError ? abortReason : undefined, signalReason);
    if (this.#onAbort) removeAbortListener(this.#options.signal!, this.#onAbort);
    this.#wakeReader();
    return true;
  }

  /**
   * The connection ended and nothing of ours is being written: the write timer stops (it is armed
   * once, not per write), so it does not hold the process of a script that read to the peer's end
   * and never closed. The next write arms it again.
   */
  #stopWriteTimerIfEnded(): void {
    if (this.#endInfo !== undefined && this.#inFlight === undefined) this.#stopWriteTimer();
  }

  #refusal(operation: SocketOperation | "unwrap"): unknown {
    const stop = (this.#read as Extract<ReadSide, { state: "stopped" }>).stop;
    if (stop.by === "aborted") return stop.reason;
    return new SocketClosedError(`Cannot ${operation}: the connection ${SourceConn.#stopWhy(stop.by)}`);
  }

  static #stopWhy(by: "local" | "unwrapped" | "upgraded"): string {
    return by === "unwrapped" ? "was unwrapped" : by === "upgraded" ? "was handed to startTls()" : "was closed here";
  }

  /** Our side stopped the connection (close, reset, abort, unwrap). */
  #isStopped(): boolean {
    return this.#read.state === "stopped";
  }

  #isUnwrapped(): boolean {
    return this.#read.state === "stopped" && (this.#read.stop.by === "unwrapped" || this.#read.stop.by === "upgraded");
  }

  /** Releases the handle once both directions are done; reads of buffered bytes go on. */
  #release(): void {
    if (this.#sourceClosed || this.#isUnwrapped()) return;
    this.#source.close().catch(() => this.#source.destroy());
  }

  // ---- flow control and timers -------------------------------------------

  #updateFlow(): void {
    this.#setPaused(this.#queue.length >= this.#options.highWaterMark && !this.#wanting);
  }

  #setPaused(pause: boolean): void {
    if (this.#read !== OPEN) return;
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) {
      this.#source.pause();
      this.#clearIdle();
    } else {
      this.#source.resume();
      if (this.#options.idleTimeout !== 0) this.#lastData = Date.now();
      this.#armIdle();
    }
  }

  #armIdle(): void {
    const idle = this.#options.idleTimeout;
    if (idle === 0 || this.#idleTimer !== undefined || this.#endInfo) return;
    this.#idleTimer = setTimeout(this.#checkIdle ??= () => this.#onIdleTimer(), Math.min(idle, MAX_TIMER_DELAY));
    if (!this.#referenced) holdProcess(this.#idleTimer, false);
  }

  #clearIdle(): void {
    if (this.#idleTimer === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #onIdleTimer(): void {
    this.#idleTimer = undefined;
    if (this.#paused || this.#endInfo) return;
    const idle = this.#options.idleTimeout;
    const quiet = Date.now() - this.#lastData;
    if (quiet < idle) {
      this.#idleTimer = setTimeout(this.#checkIdle!, Math.min(idle - quiet, MAX_TIMER_DELAY));
      if (!this.#referenced) holdProcess(this.#idleTimer, false);
      return;
    }
    this.#fail(new IdleTimeoutError(`Connection idle: no byte received for ${idle} ms`));
  }

  #armHeartbeat(delay: number): void {
    if (delay <= 0) return;
    this.#heartbeatTimer = setTimeout(this.#beat ??= () => this.#onHeartbeatTimer(), Math.min(delay, MAX_TIMER_DELAY));
    if (!this.#referenced) holdProcess(this.#heartbeatTimer, false);
  }

  ref(): void {
    this.#setReferenced(true);
  }

  unref(): void {
    this.#setReferenced(false);
  }

  #setReferenced(referenced: boolean): void {
    if (referenced === this.#referenced || this.#sourceClosed || this.#isUnwrapped()) return;
    // Once close() began, its flush and linger hold the process (they are bounded): unref() waits for none.
    if (!referenced && this.#closing !== undefined) return;
    this.#referenced = referenced;
    this.#source.setRef?.(referenced);
    holdProcess(this.#idleTimer, referenced);
    holdProcess(this.#heartbeatTimer, referenced);
    if (this.#cancelWriteTimer === undefined) return;
    // Armed again as the new state says; idle (nothing in flight) it only waits for the next flush.
    this.#stopWriteTimer();
    if (this.#inFlight) this.#cancelWriteTimer = setLongTimeout(() => this.#onWriteTimer(), this.#writeTimeLeft(), referenced);
  }

  #onHeartbeatTimer(): void {
    this.#heartbeatTimer = undefined;
    const heartbeat = this.#options.heartbeat!;
    if (this.#endInfo || this.#writeClosed) return;
    const quiet = Date.now() - this.#lastWrite;
    // Bytes still waiting to go (a peer that reads nothing): another heartbeat behind them would
    // only add to what waits, one message per interval, without bound. writeTimeout is what
    // tells such a peer apart.
    if (this.#inFlight !== undefined || this.#writeQueue?.length) {
      this.#armHeartbeat(heartbeat.interval);
    } else if (quiet >= heartbeat.interval) {
      this.write(heartbeat.message).catch((err: unknown) => {
        // A failed heartbeat ends the connection, but does not name how the peer left: a reset
        // taken by the write already ended the read side as one (#onWriteFailed), and EPIPE only
        // says the kernel already reported the peer's end to a read, which the source reports.
        const error = toSocketError(err, "write");
        if (!this.#isStopped() && error.code !== "EPIPE") this.#fail(error);
      });
      this.#armHeartbeat(heartbeat.interval);
    } else {
      this.#armHeartbeat(heartbeat.interval - quiet);
    }
  }

  #stopTimers(): void {
    this.#clearIdle();
    if (this.#heartbeatTimer !== undefined) clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }

  // ---- reading --------------------------------------------------------------

  /** Retries the pending read in a microtask, so a source never sees a pause or resume from inside its own callback. */
  #wakeReader(): void {
    if (this.#stepScheduled || !this.#pending) return;
    this.#stepScheduled = true;
    void Promise.resolve(this).then(SourceConn.#stepLater);
  }

  /**
   * Runs `attempt` now and again after each event until it answers. Not an async function: a
   * suspended one keeps a generator, a context and two promises alive per waiting connection.
   */
  #readOp<T>(signal: AbortSignal | undefined, attempt: Attempt<T>, triedNow = false): Promise<T> {
    if (this.#reading) {
      return Promise.reject(new TypeError("Cannot read: another read is already pending on this connection; await it first"));
    }
    this.#reading = true;
    return new Promise<T>((resolve, reject) => {
      const pending: PendingRead = { attempt, signal, resolve: resolve as (value: unknown) => void, reject, onAbort: undefined };
      this.#pending = pending;
      if (triedNow) this.#wait(pending);
      else this.#step();
    });
  }

  /**
   * The one way every read starts: answered from the buffer at once when it can be (no await on
   * a pending read, no promise of its own), else a pending read that `#step` retries.
   */
  #answer<T>(signal: AbortSignal | undefined, attempt: Attempt<T>): Promise<T> {
    if (this.#reading || (this.#read !== OPEN && this.#isStopped()) || signal?.aborted) return this.#readOp(signal, attempt);
    let result: T | typeof WAIT;
    try {
      result = attempt(this);
    } catch (err) {
      return Promise.reject(err);
    }
    return result === WAIT ? this.#readOp(signal, attempt, true) : this.#tookNow(result);
  }

  /** One try of the pending read: it settles, or it waits for the next event. */
  #step(): void {
    const pending = this.#pending!;
    let result: unknown;
    try {
      pending.signal?.throwIfAborted();
      if (this.#isStopped()) throw this.#refusal("read");
      result = pending.attempt(this);
    } catch (err) {
      this.#finishRead(pending);
      pending.reject(err);
      return;
    }
    if (result !== WAIT) {
      this.#finishRead(pending);
      pending.resolve(result);
      return;
    }
    this.#wait(pending);
  }

  /** The pending read waits for the next event (or its signal). */
  #wait(pending: PendingRead): void {
    // The application has read everything buffered and waits for more: its replies go now.
    this.#releaseHeld();
    if (pending.signal && !pending.onAbort) {
      pending.onAbort = () => this.#wakeReader();
      addAbortListener(pending.signal, pending.onAbort);
    }
    this.#wanting = true;
    this.#updateFlow();
  }

  #finishRead(pending: PendingRead): void {
    this.#pending = undefined;
    if (pending.onAbort) removeAbortListener(pending.signal!, pending.onAbort);
    this.#reading = false;
    this.#wanting = false;
    this.#updateFlow();
  }

  static #stepLater(conn: SourceConn): void {
    conn.#stepScheduled = false;
    if (conn.#pending) conn.#step();
  }

  /** After the buffered bytes: WAIT while open, null at EOF, else throw the sticky error. */
  #atEnd(): null | typeof WAIT {
    const read = this.#read;
    if (read.state === "open") return WAIT;
    if (read.state === "stopped") throw this.#refusal("read");
    if (read.error === null) return null;
    throw read.error;
  }

  read(options?: OperationOptions): Promise<Bytes | null> {
    if (options === undefined) return this.#answer(undefined, SourceConn.#nextChunk);
    return this.#withSignal(options, "read", OPERATION_OPTION_KEYS, (signal) => this.#answer(signal, SourceConn.#nextChunk));
  }

  static #nextChunk(this: void, conn: SourceConn): Bytes | null | typeof WAIT {
    return conn.#queue.length > 0 ? conn.#queue.shift() : conn.#atEnd();
  }

  static #nextResult(this: void, conn: SourceConn): IteratorResult<Bytes> | typeof WAIT {
    if (conn.#queue.length > 0) return { done: false, value: conn.#queue.shift() };
    return conn.#atEnd() === WAIT ? WAIT : { done: true, value: undefined };
  }

  /** Bytes were taken outside `#readOp`: resume the source if that brought it under the mark. */
  #tookNow<T>(value: T): Promise<T> {
    if (this.#paused) this.#updateFlow();
    return Promise.resolve(value);
  }

  get buffered(): number {
    return this.#queue.length;
  }

  peek(options?: PeekOptions): Promise<Bytes | null> {
    return this.#withSignal(options, "peek", PEEK_OPTION_KEYS, (signal) => {
      const bytes = checkInteger(options?.bytes, "bytes", 1, 1);
      return this.#answer(signal, () => {
        if (this.#queue.length >= bytes) return this.#queue.all();
        const end = this.#atEnd();
        if (end === WAIT) return WAIT;
        return this.#queue.length > 0 ? this.#queue.all() : end;
      });
    });
  }

  skipUntil(delimiter: Uint8Array | string, options?: OperationOptions): Promise<number> {
    return this.#withSignal(options, "skipUntil", OPERATION_OPTION_KEYS, (signal) => {
      const delim = this.#delimiterBytes(delimiter);
      if (delim.length === 0) throw new RangeError("delimiter must not be empty");
      let skipped = 0;
      return this.#answer(signal, () => {
        const queue = this.#queue;
        const at = queue.indexOf(delim, queue.length);
        if (at >= 0) {
          queue.take(at + delim.length);
          return skipped + at + delim.length;
        }
        // Keep only what could be the start of a delimiter split across chunks.
        const drop = Math.max(0, queue.length - (delim.length - 1));
        if (drop > 0) {
          queue.take(drop);
          skipped += drop;
        }
        if (this.#read.state === "open") return WAIT;
        // At the end the rest goes too: counted at EOF, gone with the error after a reset or a timeout.
        skipped += queue.length;
        queue.takeAll();
        this.#atEnd();
        return skipped;
      });
    });
  }

  decode<T>(decoder: Decoder<T> | DecodeFunction<T>, options?: ScanOptions): AsyncIterableIterator<T, undefined, unknown> {
    const decode = typeof decoder === "function"
      ? decoder
      : typeof decoder === "object" && decoder !== null && typeof decoder.decode === "function"
      ? decoder.decode.bind(decoder)
      : undefined;
    if (!decode) throw new TypeError(`decoder must be a function or an object with a decode() method, got ${describe(decoder)}`);
    const { signal } = this.#checkOperationOptions(options, "decode", SCAN_OPTION_KEYS);
    const maxBytes = checkInteger(options?.maxBytes, "maxBytes", DEFAULT_LIMIT, 1);
    const state: DecodeState<T> = { decode, maxBytes, need: 1, tried: 0 };
    let finished = false;
    const done: IteratorResult<T> = { done: true, value: undefined };
    // The iterator is finished by the attempt itself, so a message costs no extra promise hop.
    const attempt: Attempt<IteratorResult<T>> = (conn) => {
      if (finished) return done;
      try {
        const result = conn.#nextMessage(state);
        if (result !== WAIT && result.done) finished = true;
        return result;
      } catch (err) {
        finished = true;
        throw err;
      }
    };
    const iterator: AsyncIterableIterator<T, undefined, unknown> = {
      next: () => {
        if (finished) return Promise.resolve(done);
        // The common case, decoded here rather than through #answer (a third of the cost per
        // message): the next message lies in the first buffered chunk. Any other answer of the
        // decoder is kept in `state`, so the general path goes on from it without asking again.
        const queue = this.#queue;
        if (state.need === 1 && signal === undefined && !this.#reading && this.#read === OPEN && queue.length > 0) {
          const bytes = queue.first()!;
          try {
            const result = decode(bytes);
            if (typeof result === "object" && result !== null && "value" in result) {
              const used = result.used;
              if (Number.isSafeInteger(used) && used >= 1 && used <= bytes.length && used <= maxBytes) {
                queue.discard(used);
                if (this.#paused) this.#updateFlow();
                return Promise.resolve({ done: false, value: result.value });
              }
            }
            // No message here: a bad answer throws; `need` or undefined is kept in `state`.
            this.#takeDecoded(state, bytes, result);
          } catch (err) {
            finished = true;
            return Promise.reject(err);
          }
        }
        return this.#answer(signal, attempt);
      },
      return: () => {
        finished = true;
        return Promise.resolve(done);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** The next message from the buffer, or WAIT. */
  #decodeBuffered<T>(state: DecodeState<T>): IteratorResult<T> | typeof WAIT {
    const queue = this.#queue;
    // Each pass gives the decoder more bytes than the last, up to all of them.
    while (queue.length > 0 && queue.length >= state.need) {
      const bytes = this.#decodeWindow(state.need, state.tried);
      const message = this.#takeDecoded(state, bytes, state.decode(bytes));
      if (message !== undefined) return message;
    }
    return WAIT;
  }

  /**
   * Checks the decoder's answer for `bytes`: a message leaves the buffer and is returned; otherwise
   * `state` says how many bytes to wait for, and undefined is returned.
   */
  #takeDecoded<T>(state: DecodeState<T>, bytes: Bytes, result: DecodeResult<T>): IteratorResult<T> | undefined {
    const queue = this.#queue;
    if (result === undefined) {
      state.need = bytes.length + 1;
    } else if (typeof result !== "object" || result === null || !("value" in result || "need" in result)) {
      const got = typeof result === "object" && result !== null
        ? "an object with neither value nor need"
        : result === null
        ? "null"
        : describe(result);
      throw new TypeError(`decode() returned ${got}; it must return { value, used }, { need } or undefined`);
    } else if ("value" in result) {
      const used = result.used;
      if (!Number.isSafeInteger(used) || used < 1 || used > bytes.length) {
        throw new RangeError(
          `decode() returned used: ${String(used)}; it must be an integer from 1 to the ${bytes.length} bytes it was given`,
        );
      }
      if (used > state.maxBytes) {
        throw new LimitExceededError(
          state.maxBytes,
          `Cannot read: the decoder's message of ${used} bytes is over maxBytes (${state.maxBytes})`,
        );
      }
      queue.discard(used);
      state.need = 1;
      state.tried = 0;
      return { done: false, value: result.value };
    } else {
      const need = result.need;
      if (!Number.isSafeInteger(need) || need <= bytes.length) {
        throw new RangeError(
          `decode() returned need: ${String(need)}; it must be an integer above the ${bytes.length} bytes it was given`,
        );
      }
      if (need > state.maxBytes) {
        throw new LimitExceededError(
          state.maxBytes,
          `Cannot read: the decoder needs ${need} bytes for its next message, over maxBytes (${state.maxBytes})`,
        );
      }
      state.need = need;
    }
    // Undecided with maxBytes in hand (or all of the buffer, past it): no message can fit.
    if (state.need > state.maxBytes) throw new LimitExceededError(state.maxBytes, `Cannot read: no message within ${state.maxBytes} bytes`);
    state.tried = bytes.length;
    return undefined;
  }

  /**
   * What the decoder is given, holding at least `need` bytes: the first chunk when that is
   * enough (no copy); a copy of just the front when the message ends in the second chunk, so
   * decoding goes on in that chunk in place; otherwise every byte, joined into a buffer later
   * chunks are appended to, so a big message costs linear time.
   */
  #decodeWindow(need: number, tried: number): Bytes {
    const queue = this.#queue;
    const first = queue.firstLength();
    if (need <= first) return queue.first()!;
    const bridge = first + queue.secondLength();
    if (need <= bridge && !queue.firstIsJoined()) return queue.copyFront(Math.min(bridge, Math.max(need, 2 * tried)));
    return queue.all();
  }

  #nextMessage<T>(state: DecodeState<T>): IteratorResult<T> | typeof WAIT {
    const result = this.#decodeBuffered(state);
    if (result !== WAIT) return result;
    if (this.#atEnd() === WAIT) return WAIT;
    if (this.#queue.length === 0) return { done: true, value: undefined };
    const partial = this.#queue.takeAll();
    throw new UnexpectedEofError(partial, `Cannot read: the peer closed the connection ${partial.length} bytes into a message`);
  }

  readExactly(n: number, options?: OperationOptions): Promise<Bytes> {
    return this.#withSignal(options, "readExactly", OPERATION_OPTION_KEYS, (signal) => {
      // Required: a missing n would wait for `undefined` bytes forever, holding the read.
      if (n === undefined) throw new TypeError("n must be an integer, got undefined");
      checkInteger(n, "n", 0, 0);
      return this.#answer(signal, () => {
        const buffered = this.#queue.length;
        if (buffered >= n && buffered > 0) return this.#queue.take(n);
        // Zero bytes and none buffered: at once while open, but a failure stays thrown (SPEC 2).
        if (n === 0) {
          this.#atEnd();
          return new Uint8Array(0);
        }
        if (this.#atEnd() === WAIT) return WAIT;
        const partial = this.#queue.takeAll();
        throw new UnexpectedEofError(partial, `Cannot read: the peer closed the connection after ${partial.length} of ${n} bytes`);
      });
    });
  }

  readUntil(delimiter: Uint8Array | string, options?: ScanOptions): Promise<Bytes | null> {
    return this.#withSignal(options, "readUntil", SCAN_OPTION_KEYS, (signal) => {
      const delim = this.#delimiterBytes(delimiter);
      if (delim.length === 0) throw new RangeError("delimiter must not be empty");
      const maxBytes = checkInteger(options?.maxBytes, "maxBytes", DEFAULT_LIMIT, 1);
      if (maxBytes < delim.length) throw new RangeError(`maxBytes (${maxBytes}) must be at least the delimiter's length (${delim.length})`);
      return this.#answer(signal, () => {
        const at = this.#queue.indexOf(delim, maxBytes);
        if (at >= 0) return this.#queue.take(at + delim.length);
        if (this.#queue.length >= maxBytes) throw new LimitExceededError(maxBytes);
        if (this.#atEnd() === WAIT) return WAIT;
        if (this.#queue.length === 0) return null;
        const partial = this.#queue.takeAll();
        throw new UnexpectedEofError(
          partial,
          `Cannot read: the peer closed the connection ${partial.length} bytes into a message, before its delimiter`,
        );
      });
    });
  }

  /** The delimiter as bytes; the last string's encoding is kept, so a loop does not re-encode it. */
  #delimiterBytes(delimiter: Uint8Array | string): Uint8Array {
    if (typeof delimiter !== "string") return toBytes(delimiter, "delimiter");
    if (delimiter !== this.#lastDelimiter?.text) this.#lastDelimiter = { text: delimiter, bytes: toBytes(delimiter, "delimiter") };
    return this.#lastDelimiter.bytes;
  }

  lines(options?: ScanOptions): AsyncIterableIterator<string, undefined, unknown> {
    const { signal } = this.#checkOperationOptions(options, "lines", SCAN_OPTION_KEYS);
    const maxBytes = checkInteger(options?.maxBytes, "maxBytes", DEFAULT_LIMIT, 1);
    // The complete lines of the first chunk are decoded in one go, then cut out one by one.
    // Their bytes leave the buffer only as each line is returned, and the cutter is reloaded if
    // anything else read in between, so breaking out or mixing with read() loses nothing.
    const cutter = new LineCutter();
    let mark = -1;
    let finished = false;
    const done: IteratorResult<string> = { done: true, value: undefined };
    const iterator: AsyncIterableIterator<string, undefined, unknown> = {
      next: () => {
        if (finished) return Promise.resolve(done);
        if (!this.#reading && !this.#isStopped() && !signal?.aborted) {
          if (!cutter.loaded || mark !== this.#queue.consumed) cutter.load(this.#queue.first());
          const line = cutter.cut(maxBytes);
          if (line !== undefined) {
            this.#queue.discard(cutter.bytes);
            mark = this.#queue.consumed;
            return this.#tookNow<IteratorResult<string>>({ done: false, value: line });
          }
        }
        return this.#readOp(signal, () => this.#nextLine(maxBytes)).then(
          (line) => {
            if (line !== null) return { done: false, value: line };
            finished = true;
            return done;
          },
          (err: unknown) => {
            finished = true;
            throw err;
          },
        );
      },
      return: () => {
        finished = true;
        return Promise.resolve(done);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** A line of at most `maxBytes` bytes before its `\n` or `\r\n`; bytes stay buffered on a limit error. */
  #nextLine(maxBytes: number): string | null | typeof WAIT {
    const line = takeLine(this.#queue, maxBytes, false);
    if (line !== undefined) return line;
    return this.#atEnd() === WAIT ? WAIT : takeLine(this.#queue, maxBytes, true)!;
  }

  /** Checks an operation's options: a misspelt `maxBytes` must not silently lift its bound. */
  #checkOperationOptions(
    options: OperationOptions | undefined,
    what: string,
    known: readonly string[] = OPERATION_OPTION_KEYS,
  ): { signal: AbortSignal | undefined } {
    const o = checkOptionsObject(options, "options");
    for (const key in o) {
      if (!known.includes(key)) refuseUnknownOptions(o, what, known);
    }
    return { signal: checkSignal(o.signal, "options.signal") };
  }

  /** Checks options, then runs `operation`; argument errors become rejections. */
  #withSignal<T>(
    options: OperationOptions | undefined,
    what: string,
    known: readonly string[],
    operation: (signal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    try {
      return operation(this.#checkOperationOptions(options, what, known).signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Bytes, undefined, unknown> {
    const iterator: AsyncIterableIterator<Bytes, undefined, unknown> = {
      next: () => this.#answer(undefined, SourceConn.#nextResult),
      // Breaking out of a loop keeps the connection and its buffered bytes.
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  unwrap(): { buffered: Bytes; native: unknown } {
    if (this.#reading) throw new TypeError("Cannot unwrap while a read is pending on this connection");
    if (this.#isStopped()) throw this.#refusal("unwrap");
    // A write sent in pieces finishes whole: its rest goes to the source now, behind
    // the piece in flight, before the next owner can write. The timeout is the next owner's concern.
    const inFlight = this.#inFlight;
    if (inFlight !== undefined && this.#pieceEnd >= 0 && this.#pieceEnd < inFlight[0]!.bytes.length) {
      let rest: Promise<void>;
      try {
        rest = this.#source.write(inFlight[0]!.bytes.subarray(this.#pieceEnd));
      } catch (err) {
        rest = Promise.reject(err);
      }
      rest.catch(noop);
      this.#restHandedOver = rest;
    }
    this.#stopWriteTimer();
    // The next owner gets the socket as a new one is: keeping the process alive.
    if (!this.#referenced) this.#source.setRef?.(true);
    this.#source.detach();
    // Writes the source never saw are refused; one it is writing finishes on the socket handed out.
    const queued = this.#writeQueue;
    this.#writeQueue = undefined;
    const buffered = this.#queue.takeAll();
    this.#halt({ by: upgrading.has(this) ? "upgraded" : "unwrapped" });
    if (queued) { for (const request of queued) if (this.#inFlight?.[0] !== request) settleWrite(request, this.#refusal("write")); }
    this.#markClosed();
    return { buffered, native: this.#source.native };
  }

  // ---- writing ------------------------------------------------------------

  write(data: Uint8Array | string, options?: OperationOptions): Promise<void> {
    // The common case, a write right behind another, skips the checks below that cannot fail.
    if (options === undefined && data instanceof Uint8Array && this.#writeQueue?.length && this.#writeRefusal() === undefined) {
      const joined = joinTail(this.#writeQueue, data, this.#joinLimit);
      if (joined) {
        if (this.#options.heartbeat) this.#lastWrite = Date.now();
        return joined;
      }
    }
    return this.#enqueue(data, options);
  }

  /** A write that starts a batch of its own (or is refused). */
  #enqueue(data: Uint8Array | string, options: OperationOptions | undefined): Promise<void> {
    let bytes: Uint8Array;
    let signal: AbortSignal | undefined;
    try {
      bytes = toBytes(data, "data");
      signal = options === undefined ? undefined : this.#checkOperationOptions(options, "write").signal;
    } catch (err) {
      // A bad argument is a programming error: left unhandled, it is seen.
      return Promise.reject(err);
    }
    if (signal?.aborted) return handledRejection(signal.reason);
    const refused = this.#writeRefusal();
    if (refused !== undefined) {
      // Refused because the connection failed: a loop still answering buffered requests must not
      // crash the process with the replies nobody awaits (SPEC 11).
      return handledRejection(refused);
    }
    if (this.#options.heartbeat) this.#lastWrite = Date.now();
    const queue = (this.#writeQueue ??= []);
    const joined = signal ? undefined : joinTail(queue, bytes, this.#joinLimit);
    if (joined) return joined;
    let resolve!: () => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A write nobody awaits must not crash the process when it fails; an awaiting caller still sees the error.
    promise.catch(noop);
    const request: WriteRequest = {
      bytes,
      more: undefined,
      size: bytes.length,
      offset: 0,
      promise,
      settled: false,
      resolve,
      reject,
      signal,
      onAbort: undefined,
    };
    if (signal) {
      request.onAbort = () => this.#abortWrite(request);
      addAbortListener(signal, request.onAbort);
    }
    queue.push(request);
    // Writes issued in one go (a burst of replies) are handed to the runtime together, a microtask later.
    if (!this.#inFlight && !this.#flushScheduled) {
      this.#flushScheduled = true;
      // Not queueMicrotask: on Node it runs each callback in an async-hooks scope, a cost per write.
      void Promise.resolve(this).then(SourceConn.#flushLater);
    }
    return promise;
  }

  static #flushLater(conn: SourceConn): void {
    conn.#flushScheduled = false;
    conn.#flushOrHold();
  }

  /**
   * Flushes, unless input is still buffered: then the application is in the middle of a batch
   * (a pipelining client's commands), and its replies wait until it has read what is buffered
   * or waits for more, or one turn of the event loop at most. On a runtime whose write completes
   * at once (Bun, Deno), flushing each reply as it comes sent one packet per reply.
   */
  #flushOrHold(): void {
    if (this.#queue.length === 0 || this.#read !== OPEN) return this.#flush();
    this.#flushHeld = true;
    if (this.#heldTurn) return;
    this.#heldTurn = true;
    const held = SourceConn.#heldThisTurn;
    if (held) held.push(this);
    else {
      SourceConn.#heldThisTurn = [this];
      nextTurn(SourceConn.#releaseTurn);
    }
  }

  /**
   * Connections holding writes until the next event-loop turn: one timer for all of them, since
   * a busy server gets data on many connections in the same turn (a turn costs 0.2 to 1.3 µs).
   */
  static #heldThisTurn: SourceConn[] | undefined;

  static #releaseTurn(this: void): void {
    const held = SourceConn.#heldThisTurn!;
    SourceConn.#heldThisTurn = undefined;
    for (const conn of held) {
      conn.#heldTurn = false;
      conn.#releaseHeld();
    }
  }

  #releaseHeld(): void {
    if (!this.#flushHeld) return;
    this.#flushHeld = false;
    this.#flush();
  }

  /** Hands the next batch of queued writes to the source, unless one is in flight. */
  #flush(): void {
    this.#flushHeld = false;
    const queue = this.#writeQueue;
    if (this.#inFlight || !queue || queue.length === 0) {
      if (!this.#inFlight) {
        this.#notifyFlushed();
        this.#stopWriteTimerIfEnded();
      }
      return;
    }
    const first = queue[0]!;
    let bytes: Uint8Array;
    let batch: WriteRequest[];
    const pieceLimit = this.#pieceBytes();
    // Only a write of its own goes in pieces: joined writes stay under the piece size (#joinLimit).
    if (first.more === undefined && first.size - first.offset > pieceLimit) {
      // One big write, in pieces: the write timer restarts with each piece the peer takes.
      batch = [first];
      this.#pieceEnd = Math.min(first.offset + pieceLimit, first.bytes.length);
      bytes = first.bytes.subarray(first.offset, this.#pieceEnd);
    } else {
      let count = 1;
      let total = first.size - first.offset;
      while (count < queue.length && total + queue[count]!.size <= this.#joinLimit) total += queue[count++]!.size;
      batch = queue.splice(0, count);
      this.#pieceEnd = -1;
      bytes = count > 1 || first.more
        ? concatRequests(batch, total)
        : first.offset === 0
        ? first.bytes
        : first.bytes.subarray(first.offset);
    }
    this.#inFlight = batch;
    this.#wrote = true;
    this.#flushBytes = bytes.length;
    this.#armWriteTimer();
    let written: Promise<void>;
    try {
      written = this.#source.write(bytes);
    } catch (err) {
      written = Promise.reject(err);
    }
    written.then(() => this.#onWritten(batch), (err: unknown) => this.#onWriteFailed(batch, err));
  }

  #onWritten(batch: WriteRequest[]): void {
    if (this.#inFlight !== batch) return; // the connection ended meanwhile: already rejected
    this.#inFlight = undefined;
    if (this.#pieceEnd >= 0) {
      const request = batch[0]!;
      request.offset = this.#pieceEnd;
      // Aborted meanwhile, it still goes whole: a write torn off mid-way would corrupt what follows.
      if (request.offset < request.bytes.length) {
        // Unwrapped between two pieces: the rest was handed to the source whole (unwrap()).
        if (!this.#writeQueue) {
          this.#notifyFlushed(); // nothing more of ours will be written
          const rest = this.#restHandedOver;
          if (rest === undefined) return settleWrite(request, this.#refusal("write"));
          return void rest.then(() => settleWrite(request, undefined), (err: unknown) => settleWrite(request, toSocketError(err, "write")));
        }
        return this.#flush();
      }
      this.#writeQueue?.shift();
    }
    for (const request of batch) settleWrite(request, undefined);
    this.#flush();
  }

  #onWriteFailed(batch: WriteRequest[], err: unknown): void {
    if (this.#inFlight !== batch) return;
    this.#inFlight = undefined;
    this.#stopWriteTimer();
    if (this.#pieceEnd >= 0) this.#writeQueue?.shift();
    const error = this.#writeError(err);
    for (const request of batch) settleWrite(request, error);
    // The kernel reports a reset once: if a write took it, the read side must still hear it (SPEC 2).
    if (error instanceof SocketError && error.code === "ECONNRESET") this.#fail(relabel(error, "read"));
    this.#dropWrites(() => error);
  }

  /** A queued write leaves the queue untouched by the source; one in flight is rejected, its bytes may still go. */
  #abortWrite(request: WriteRequest): void {
    const queue = this.#writeQueue;
    const at = queue ? queue.indexOf(request) : -1;
    if (at >= 0 && !(at === 0 && this.#inFlight?.[0] === request)) queue!.splice(at, 1);
    settleWrite(request, request.signal!.reason);
    if (!this.#inFlight) this.#notifyFlushed();
  }

  /**
   * The connection ended: every write not yet done rejects with the error `failure` makes (SPEC
   * 11), made only if there is such a write (a reset makes no error object for writes nobody made).
   */
  #dropWrites(failure: () => unknown): void {
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    this.#stopWriteTimer();
    const queue = this.#writeQueue;
    this.#writeQueue = undefined;
    if (inFlight !== undefined || (queue !== undefined && queue.length > 0)) {
      const error = failure();
      if (inFlight) { for (const request of inFlight) settleWrite(request, error); }
      if (queue) { for (const request of queue) settleWrite(request, error); }
    }
    this.#notifyFlushed();
  }

  /**
   * A flush starts: the write timer measures from here. The timer is armed once and checks when
   * it fires, instead of being set and cleared for every runtime write (a pipelining server
   * makes thousands a second).
   */
  #setWriteTimeout(ms: number): void {
    this.#writeTimeout = ms;
    this.#joinLimit = Math.min(COALESCE_BYTES, this.#pieceBytes());
  }

  /** The size of the pieces a big write goes in (see PIECE_BYTES). */
  #pieceBytes(): number {
    const ms = this.#writeTimeout;
    return ms > 0 ? Math.min(PIECE_BYTES, Math.max(MIN_PIECE_BYTES, ms * PIECE_BYTES_PER_MS)) : PIECE_BYTES;
  }

  #armWriteTimer(): void {
    const ms = this.#writeTimeout;
    if (ms === 0) return;
    this.#flushStartedAt = Date.now();
    this.#cancelWriteTimer ??= setLongTimeout(() => this.#onWriteTimer(), ms, this.#referenced);
  }

  #stopWriteTimer(): void {
    this.#cancelWriteTimer?.();
    this.#cancelWriteTimer = undefined;
  }

  /** The write timer fired: a timeout if the flush in flight started `writeTimeout` ms ago. */
  #onWriteTimer(): void {
    this.#cancelWriteTimer = undefined;
    if (!this.#inFlight) return; // idle: the next flush arms it again
    const left = this.#writeTimeLeft();
    if (left > 0) this.#cancelWriteTimer = setLongTimeout(() => this.#onWriteTimer(), left, this.#referenced);
    else this.#onWriteTimeout();
  }

  /** How long the flush in flight has before its write timeout; 0 or less once it is due. */
  #writeTimeLeft(): number {
    return this.#flushStartedAt + this.#writeTimeout - Date.now();
  }

  /** The peer took no byte for `writeTimeout` ms: the write fails and the connection is reset. */
  #onWriteTimeout(): void {
    if (this.#isUnwrapped()) return; // the socket and its writes are someone else's now
    const error = new WriteTimeoutError(`Cannot write: the peer did not take ${this.#flushBytes} bytes within ${this.#writeTimeout} ms`);
    this.#failure ??= error;
    if (this.#read === OPEN) {
      this.#read = { state: "ended", error };
      this.#settle("timeout", error);
      this.#wakeReader();
    }
    this.#dropWrites(() => error);
    if (!this.#sourceClosed) this.#source.reset();
  }

  /** Resolves once no write is queued or in flight (or the connection ended). */
  #whenFlushed(): Promise<void> {
    if (!this.#inFlight && !this.#writeQueue?.length) return SETTLED;
    return new Promise((resolve) => (this.#flushWaiters ??= []).push(resolve));
  }

  #notifyFlushed(): void {
    const waiters = this.#flushWaiters;
    if (!waiters || this.#inFlight || this.#writeQueue?.length) return;
    this.#flushWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  #writeRefusal(): unknown {
    if (this.#read !== OPEN && this.#isStopped()) return this.#refusal("write");
    if (this.#writeClosed) return new SocketClosedError("Cannot write: the write side was closed here with closeWrite()");
    if (this.#failure) return relabel(this.#failure, "write");
    return undefined;
  }

  #writeError(err: unknown): unknown {
    const read = this.#read;
    if (read.state === "stopped" && read.stop.by !== "local") return this.#refusal("write");
    const error = toSocketError(err, "write");
    if (error instanceof SocketClosedError && this.#failure) return relabel(this.#failure, "write");
    if (error instanceof SocketClosedError && read.state === "stopped") return this.#refusal("write");
    this.#failure ??= error;
    return error;
  }

  closeWrite(): Promise<void> {
    if (this.#isStopped()) return handledRejection(this.#refusal("write"));
    if (this.#writeClosing === undefined) {
      this.#writeClosing = this.#shutWrite();
      // As for writes: a failure nobody awaits is not an unhandled rejection; an awaiting caller sees it.
      this.#writeClosing.catch(noop);
    }
    return this.#writeClosing;
  }

  async #shutWrite(): Promise<void> {
    this.#writeClosed = true;
    if (this.#heartbeatTimer !== undefined) clearTimeout(this.#heartbeatTimer);
    this.#releaseHeld();
    await this.#whenFlushed();
    // unwrap() may have handed the socket over meanwhile: it is no longer ours to shut.
    if (this.#isUnwrapped()) throw this.#refusal("write");
    if (this.#failure) throw relabel(this.#failure, "write");
    try {
      await this.#source.closeWrite();
    } catch (err) {
      throw this.#writeError(err);
    }
    this.#writeShut = true;
    if (this.#read === AT_EOF) this.#release();
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#closeGracefully());
  }

  async #closeGracefully(): Promise<void> {
    if (this.#isUnwrapped()) return;
    // The flush, our FIN and the linger that keeps them from an RST hold the process, unref() or not.
    this.#setReferenced(true);
    // Until the peer's FIN more bytes may come: they are read and dropped, during the flush (a
    // peer may not read before it has sent) and after our FIN (see LINGER_MS).
    const peerMaySend = this.#read === OPEN && this.#source.linger !== undefined;
    this.#halt({ by: "local" });
    if (peerMaySend && this.#paused) {
      this.#paused = false;
      this.#source.resume();
    }
    // Writes accepted before close() still flush; a stalled flush ends in a reset after the write
    // timeout, or serve()'s default when the connection has none: close() always settles (SPEC 11).
    if (this.#writeTimeout === 0) {
      this.#setWriteTimeout(CLOSE_FLUSH_TIMEOUT);
      // What is in flight is at most a piece (PIECE_BYTES): it gets the 60 s from now.
      if (this.#inFlight) this.#armWriteTimer();
    }
    this.#releaseHeld();
    await this.#whenFlushed();
    if (!this.#sourceClosed) {
      const cancelTimer = this.#writeTimeout > 0 ? setLongTimeout(() => this.#source.reset(), this.#writeTimeout) : undefined;
      // Nothing of ours to protect when nothing was written (over TLS the close_notify is), or the
      // connection already failed or is being reset.
      const lingers = peerMaySend && (this.#wrote || this.#source.tls !== undefined) && this.#failure === undefined &&
        !this.#resetAsked;
      try {
        if (lingers) {
          await (this.#writeClosing ?? this.#source.closeWrite());
          if (this.#peerDone || this.#failure !== undefined || this.#resetAsked) await this.#source.close();
          else if (!this.#sourceClosed) {
            const ended = this.#source.closeAwaitsLinger === true
              ? new Promise<void>((resolve) => (this.#lingerEnded = resolve))
              : undefined;
            this.#linger();
            await ended;
          }
        } else {
          await this.#source.close();
        }
      } catch {
        this.#source.destroy();
      } finally {
        cancelTimer?.();
      }
    }
    await this.closed;
  }

  /** Our FIN is sent: the connection is closed for its user, and the source reads until the peer's. */
  #linger(): void {
    this.#lingered = true;
    this.#lingerTimer = setTimeout(() => this.#endLinger(), LINGER_MS);
    holdProcess(this.#lingerTimer, false);
    this.#source.linger!();
    this.#markClosed();
  }

  #endLinger(): void {
    if (this.#lingerTimer === undefined) return;
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    if (!this.#sourceClosed) this.#source.destroy();
    this.#lingerEnded?.();
    this.#lingerEnded = undefined;
  }

  reset(): void {
    if (this.#isUnwrapped()) return;
    // After close() only the linger is left: a reset ends it at once (the process need not wait for it).
    if (this.#lingered) return this.#endLinger();
    this.#resetAsked = true;
    this.#halt({ by: "local" });
    this.#dropWrites(() => this.#refusal("write"));
    this.#closing ??= this.closed;
    if (!this.#sourceClosed) this.#source.reset();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function endReasonOf(error: SocketError): EndReason {
  switch (error.code) {
    case "ECONNRESET":
      return "reset";
    case "ETIMEDOUT":
      return "timeout";
    case "ERR_IDLE_TIMEOUT":
      return "idle";
    case "ERR_WRITE_TIMEOUT":
      return "timeout";
    case "ERR_TLS_TRUNCATED":
      return "truncated";
    default:
      return "error";
  }
}

function signalReasonFor(reason: EndReason): SocketError {
  return reason === "eof"
    ? new SocketError("The peer closed the connection", "ERR_EOF")
    : reason === "truncated"
    ? new TlsTruncatedError()
    : new SocketClosedError("The connection was closed here");
}

/** The same failure, worded for another operation ("Cannot write: connection reset by peer"). */
function relabel(error: SocketError, operation: SocketOperation): SocketError {
  // A truncation stays one, whatever the TLS layer's error beneath it says.
  if (error instanceof TlsTruncatedError) {
    return new TlsTruncatedError(`Cannot ${operation}: the TLS peer closed without close_notify`, { cause: error.cause });
  }
  return error.cause === undefined ? error : toSocketError(error.cause, operation);
}

/** Settles a write once: resolved when `error` is undefined, else rejected with it. */
function settleWrite(request: WriteRequest, error: unknown): void {
  if (request.settled) return;
  request.settled = true;
  if (request.onAbort) removeAbortListener(request.signal!, request.onAbort);
  if (error === undefined) request.resolve();
  else request.reject(error);
}

/**
 * Joins `bytes` to the last queued write when it can (no signal, not started, the two within
 * `limit`: 64 KiB, or the piece size under a short write timeout, so that a joined write never
 * goes in pieces): they settle together, as they go together. Returns that write's promise, or undefined.
 */
function joinTail(queue: WriteRequest[], bytes: Uint8Array, limit: number): Promise<void> | undefined {
  const tail = queue[queue.length - 1];
  if (tail === undefined || tail.signal !== undefined || tail.offset !== 0 || tail.size + bytes.length > limit) return undefined;
  (tail.more ??= []).push(bytes);
  tail.size += bytes.length;
  return tail.promise;
}

/** The bytes of a batch of small writes, as one buffer the runtime takes in one call. */
function concatRequests(batch: WriteRequest[], total: number): Uint8Array {
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const request of batch) {
    bytes.set(request.offset === 0 ? request.bytes : request.bytes.subarray(request.offset), at);
    at += request.bytes.length - request.offset;
    if (request.more) {
      for (const more of request.more) {
        bytes.set(more, at);
        at += more.length;
      }
    }
  }
  return bytes;
}
