import { ChunkQueue } from "./chunk-queue.ts";
import { LineCutter } from "./line-cutter.ts";
import {
  IdleTimeoutError,
  LimitExceededError,
  SocketClosedError,
  SocketError,
  TlsTruncatedError,
  UnexpectedEofError,
} from "./errors.ts";
import {
  checkInteger,
  checkOptionsObject,
  checkSignal,
  DEFAULT_LIMIT,
  resolveConnOptions,
  type ResolvedConnOptions,
  toBytes,
} from "./options.ts";
import type { ConnSink, ConnSource } from "./source.ts";
import { type SocketOperation, toSocketError } from "./to-socket-error.ts";
import type { Addr, Conn, ConnOptions, EndInfo, EndReason, OperationOptions, ScanOptions, TlsInfo } from "./types.ts";

const WAIT: unique symbol = Symbol("wait");
const SETTLED: Promise<void> = Promise.resolve();
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

const NEWLINE = new Uint8Array([10]);
const CARRIAGE_RETURN = 13;
const decoder = new TextDecoder();
const noop = (): void => {};

/** Why our side stopped the connection: every later operation is refused. */
type Stop = { by: "local" | "unwrapped" } | { by: "aborted"; reason: unknown };

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
export function createConn(source: ConnSource, options?: ConnOptions): Conn {
  return new SourceConn(source, resolveConnOptions(options));
}

/** `createConn` with options already checked: a listener resolves them once for all its connections. */
export function createConnResolved(source: ConnSource, options: ResolvedConnOptions): Conn {
  return new SourceConn(source, options);
}

/** Hands the source's reports to the connection (one small object, not a closure per method). */
class SourceSink implements ConnSink {
  constructor(readonly conn: SourceConn) {}
  data(chunk: Uint8Array): void {
    sinkDelivery.data(this.conn, chunk);
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
  data(conn: SourceConn, chunk: Uint8Array): void;
  end(conn: SourceConn, truncated: boolean): void;
  error(conn: SourceConn, err: unknown): void;
  closed(conn: SourceConn): void;
};

class SourceConn implements Conn {
  static {
    sinkDelivery = {
      data: (conn, chunk) => conn.#onData(chunk),
      end: (conn, truncated) => conn.#onEnd(truncated),
      error: (conn, err) => conn.#fail(toSocketError(err, "read")),
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
  #isClosed = false;

  /** What reads meet once the buffer is empty: undefined while open, null for EOF, else the error. */
  #readEnd: SocketError | null | undefined = undefined;
  /** Set by our own close, reset, abort or unwrap: every later operation is refused at once. */
  #stop: Stop | undefined;
  /** The first failure of the transport, which later writes report. */
  #failure: SocketError | undefined;
  #sourceClosed = false;

  #reading = false;
  #pending: PendingRead | undefined;
  #stepScheduled = false;
  /** A pending read needs more bytes, even above the high-water mark. */
  #wanting = false;
  #paused = false;

  #lastDelimiter: { text: string; bytes: Uint8Array } | undefined;

  #writeTail: Promise<void> = SETTLED;
  #writeClosed = false;
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

  constructor(source: ConnSource, options: ResolvedConnOptions) {
    this.#source = source;
    this.#options = options;

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
        if (this.#halt({ by: "aborted", reason: signal.reason })) this.#source.destroy();
      };
      if (signal.aborted) this.#onAbort();
      else signal.addEventListener("abort", this.#onAbort, { once: true });
    }
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
      this.#closed = this.#isClosed ? Promise.resolve() : new Promise((resolve) => (this.#resolveClosed = resolve));
    }
    return this.#closed;
  }

  #markClosed(): void {
    this.#isClosed = true;
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

  #onData(chunk: Uint8Array): void {
    if (this.#stop || this.#readEnd !== undefined) return;
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
    if (this.#stop || this.#readEnd !== undefined) return;
    this.#readEnd = null;
    this.#settle(truncated ? "truncated" : "eof");
    this.#wakeReader();
    if (this.#writeClosed) this.#release();
  }

  /** The transport failed: reads meet `error` after the buffered bytes; the handle is released. */
  #fail(error: SocketError): void {
    this.#failure ??= error;
    if (!this.#stop && this.#readEnd === undefined) {
      this.#readEnd = error;
      this.#settle(endReasonOf(error), error);
      this.#wakeReader();
    }
    // Released a microtask later, so the callbacks this failure queued on `ended` run first:
    // closing a runtime's handle is not free, and the app should not wait for it.
    if (!this.#sourceClosed) void SETTLED.then(() => this.#releaseFailed());
  }

  #releaseFailed(): void {
    if (!this.#sourceClosed && this.#stop?.by !== "unwrapped") this.#source.destroy();
  }

  #onClosed(): void {
    if (this.#sourceClosed) return;
    this.#sourceClosed = true;
    if (!this.#stop && this.#readEnd === undefined) {
      // A source that closes without reporting end or error: nothing more can come.
      this.#readEnd = null;
      this.#settle("eof");
    }
    if (this.#onAbort) this.#options.signal!.removeEventListener("abort", this.#onAbort);
    this.#wakeReader();
    this.#markClosed();
  }


  // ---- state --------------------------------------------------------------

  #settle(reason: EndReason, error?: SocketError, signalReason?: unknown): void {
    if (this.#endInfo) return;
    this.#endInfo = error ? { reason, error } : { reason };
    this.#stopTimers();
    this.#resolveEnded?.(this.#endInfo);
    this.#signalReason = signalReason ?? error ?? signalReasonFor(reason);
    this.#controller?.abort(this.#signalReason);
  }

  /** Our side stops the connection; false if it was already stopped. */
  #halt(stop: Stop): boolean {
    if (this.#stop) return false;
    this.#stop = stop;
    const abortReason = stop.by === "aborted" ? stop.reason : undefined;
    this.#settle(stop.by === "aborted" ? "aborted" : "local", abortReason instanceof SocketError ? abortReason : undefined, abortReason);
    if (this.#onAbort) this.#options.signal!.removeEventListener("abort", this.#onAbort);
    this.#wakeReader();
    return true;
  }

  #refusal(operation: SocketOperation | "unwrap"): unknown {
    const stop = this.#stop!;
    if (stop.by === "aborted") return stop.reason;
    const why = stop.by === "unwrapped" ? "the connection was unwrapped" : "the connection was closed here";
    return new SocketClosedError(`Cannot ${operation}: ${why}`);
  }

  /** Releases the handle once both directions are done; reads of buffered bytes go on. */
  #release(): void {
    if (this.#sourceClosed) return;
    this.#source.close().catch(() => this.#source.destroy());
  }

  // ---- flow control and timers -------------------------------------------

  #updateFlow(): void {
    this.#setPaused(this.#queue.length >= this.#options.highWaterMark && !this.#wanting);
  }

  #setPaused(pause: boolean): void {
    if (this.#stop || this.#readEnd !== undefined) return;
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
    this.#idleTimer = setTimeout((this.#checkIdle ??= () => this.#onIdleTimer()), idle);
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
      this.#idleTimer = setTimeout(this.#checkIdle!, idle - quiet);
      return;
    }
    this.#fail(new IdleTimeoutError(`Connection idle: no byte received for ${idle} ms`));
  }

  #armHeartbeat(delay: number): void {
    if (delay > 0) this.#heartbeatTimer = setTimeout((this.#beat ??= () => this.#onHeartbeatTimer()), delay);
  }

  #onHeartbeatTimer(): void {
    this.#heartbeatTimer = undefined;
    const heartbeat = this.#options.heartbeat!;
    if (this.#endInfo || this.#writeClosed) return;
    const quiet = Date.now() - this.#lastWrite;
    if (quiet >= heartbeat.interval) {
      this.write(heartbeat.message).catch((err: unknown) => {
        if (!this.#stop) this.#fail(toSocketError(err, "write"));
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
  #readOp<T>(signal: AbortSignal | undefined, attempt: Attempt<T>): Promise<T> {
    if (this.#reading) return Promise.reject(new TypeError("Cannot read: another read is already pending on this connection; await it first"));
    this.#reading = true;
    return new Promise<T>((resolve, reject) => {
      this.#pending = { attempt, signal, resolve: resolve as (value: unknown) => void, reject, onAbort: undefined };
      this.#step();
    });
  }

  /** One try of the pending read: it settles, or it waits for the next event. */
  #step(): void {
    const pending = this.#pending!;
    let result: unknown;
    try {
      pending.signal?.throwIfAborted();
      if (this.#stop) throw this.#refusal("read");
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
    if (pending.signal && !pending.onAbort) {
      pending.onAbort = () => this.#wakeReader();
      pending.signal.addEventListener("abort", pending.onAbort, { once: true });
    }
    this.#wanting = true;
    this.#updateFlow();
  }

  #finishRead(pending: PendingRead): void {
    this.#pending = undefined;
    if (pending.onAbort) pending.signal!.removeEventListener("abort", pending.onAbort);
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
    if (this.#readEnd === undefined) return WAIT;
    if (this.#readEnd === null) return null;
    throw this.#readEnd;
  }

  read(options?: OperationOptions): Promise<Uint8Array | null> {
    if (this.#canAnswerNow(options) && this.#queue.length > 0) return this.#tookNow(this.#queue.shift());
    if (options === undefined) return this.#readOp(undefined, SourceConn.#nextChunk);
    return this.#withSignal(options, (signal) => this.#readOp(signal, SourceConn.#nextChunk));
  }

  static #nextChunk(this: void, conn: SourceConn): Uint8Array | null | typeof WAIT {
    return conn.#queue.length > 0 ? conn.#queue.shift() : conn.#atEnd();
  }

  static #nextResult(this: void, conn: SourceConn): IteratorResult<Uint8Array> | typeof WAIT {
    if (conn.#queue.length > 0) return { done: false, value: conn.#queue.shift() };
    return conn.#atEnd() === WAIT ? WAIT : { done: true, value: undefined };
  }

  /** No options, no read pending, not stopped: a request the buffer may answer at once. */
  #canAnswerNow(options: unknown): boolean {
    return options === undefined && !this.#reading && !this.#stop;
  }

  /** Bytes were taken outside `#readOp`: resume the source if that brought it under the mark. */
  #tookNow<T>(value: T): Promise<T> {
    if (this.#paused) this.#updateFlow();
    return Promise.resolve(value);
  }

  peek(options?: OperationOptions): Promise<Uint8Array | null> {
    if (this.#canAnswerNow(options) && this.#queue.length > 0) return Promise.resolve(this.#queue.first()!);
    return this.#withSignal(options, (signal) => this.#readOp(signal, () => this.#queue.first() ?? this.#atEnd()));
  }

  readExactly(n: number, options?: OperationOptions): Promise<Uint8Array> {
    if (this.#canAnswerNow(options) && Number.isSafeInteger(n) && n >= 0 && this.#queue.length >= n) {
      return this.#tookNow(this.#queue.take(n));
    }
    return this.#withSignal(options, (signal) => {
      checkInteger(n, "n", 0, 0);
      return this.#readOp(signal, () => {
        if (this.#queue.length >= n) return this.#queue.take(n);
        if (this.#atEnd() === WAIT) return WAIT;
        const partial = this.#queue.takeAll();
        throw new UnexpectedEofError(partial, `Cannot read: the peer closed the connection after ${partial.length} of ${n} bytes`);
      });
    });
  }

  readUntil(delimiter: Uint8Array | string, options?: ScanOptions): Promise<Uint8Array | null> {
    return this.#withSignal(options, (signal) => {
      const delim = this.#delimiterBytes(delimiter);
      if (delim.length === 0) throw new RangeError("delimiter must not be empty");
      const maxBytes = checkInteger(options?.maxBytes, "maxBytes", DEFAULT_LIMIT, 1);
      if (maxBytes < delim.length) throw new RangeError(`maxBytes (${maxBytes}) must be at least the delimiter's length (${delim.length})`);
      if (this.#canAnswerNow(options)) {
        const at = this.#queue.indexOf(delim, maxBytes);
        if (at >= 0) return this.#tookNow(this.#queue.take(at + delim.length));
      }
      return this.#readOp(signal, () => {
        const at = this.#queue.indexOf(delim, maxBytes);
        if (at >= 0) return this.#queue.take(at + delim.length);
        if (this.#queue.length >= maxBytes) throw new LimitExceededError(maxBytes);
        if (this.#atEnd() === WAIT) return WAIT;
        if (this.#queue.length === 0) return null;
        const partial = this.#queue.takeAll();
        throw new UnexpectedEofError(partial, `Cannot read: the peer closed the connection ${partial.length} bytes into a message, before its delimiter`);
      });
    });
  }

  /** The delimiter as bytes; the last string's encoding is kept, so a loop does not re-encode it. */
  #delimiterBytes(delimiter: Uint8Array | string): Uint8Array {
    if (typeof delimiter !== "string") return toBytes(delimiter, "delimiter");
    if (delimiter !== this.#lastDelimiter?.text) this.#lastDelimiter = { text: delimiter, bytes: toBytes(delimiter, "delimiter") };
    return this.#lastDelimiter.bytes;
  }

  lines(options?: ScanOptions): AsyncIterableIterator<string> {
    const { signal } = this.#checkOperationOptions(options);
    const maxBytes = checkInteger(options?.maxBytes, "maxBytes", DEFAULT_LIMIT, 1);
    // The complete lines of the first chunk are decoded in one go, then cut out one by one.
    // Their bytes leave the buffer only as each line is returned, and the cutter is reloaded if
    // anything else read in between, so breaking out or mixing with read() loses nothing.
    const cutter = new LineCutter();
    let mark = -1;
    let finished = false;
    const done: IteratorResult<string> = { done: true, value: undefined };
    const iterator: AsyncIterableIterator<string> = {
      next: () => {
        if (finished) return Promise.resolve(done);
        if (!this.#reading && !this.#stop && !signal?.aborted) {
          if (!cutter.loaded || mark !== this.#queue.consumed) cutter.load(this.#queue.first());
          const line = cutter.cut(maxBytes);
          if (line !== undefined) {
            this.#queue.skip(cutter.bytes);
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
    const queue = this.#queue;
    const at = queue.indexOf(NEWLINE, maxBytes + 2);
    if (at >= 0) {
      if (at > maxBytes && !(at === maxBytes + 1 && queue.byteAt(maxBytes) === CARRIAGE_RETURN)) {
        throw new LimitExceededError(maxBytes, `Cannot read: line longer than ${maxBytes} bytes`);
      }
      const line = queue.take(at + 1);
      const end = at > 0 && line[at - 1] === CARRIAGE_RETURN ? at - 1 : at;
      return decoder.decode(line.subarray(0, end));
    }
    if (queue.length >= maxBytes + 2) throw new LimitExceededError(maxBytes, `Cannot read: line longer than ${maxBytes} bytes`);
    if (this.#atEnd() === WAIT) return WAIT;
    if (queue.length === 0) return null;
    if (queue.length > maxBytes) throw new LimitExceededError(maxBytes, `Cannot read: line longer than ${maxBytes} bytes`);
    return decoder.decode(queue.takeAll());
  }

  #checkOperationOptions(options: OperationOptions | undefined): { signal: AbortSignal | undefined } {
    const o = checkOptionsObject(options, "options");
    return { signal: checkSignal(o.signal, "options.signal") };
  }

  /** Checks options, then runs `operation`; argument errors become rejections. */
  #withSignal<T>(options: OperationOptions | undefined, operation: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    try {
      return operation(this.#checkOperationOptions(options).signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    const iterator: AsyncIterableIterator<Uint8Array> = {
      next: () => {
        if (this.#canAnswerNow(undefined) && this.#queue.length > 0) {
          return this.#tookNow<IteratorResult<Uint8Array>>({ done: false, value: this.#queue.shift() });
        }
        return this.#readOp(undefined, SourceConn.#nextResult);
      },
      // Breaking out of a loop keeps the connection and its buffered bytes.
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  unwrap(): { buffered: Uint8Array; native: unknown } {
    if (this.#reading) throw new TypeError("Cannot unwrap while a read is pending on this connection");
    if (this.#stop) throw this.#refusal("unwrap");
    this.#source.detach();
    const buffered = this.#queue.takeAll();
    this.#halt({ by: "unwrapped" });
    this.#markClosed();
    return { buffered, native: this.#source.native };
  }

  // ---- writing ------------------------------------------------------------

  write(data: Uint8Array | string, options?: OperationOptions): Promise<void> {
    let bytes: Uint8Array;
    let signal: AbortSignal | undefined;
    try {
      bytes = toBytes(data, "data");
      signal = options === undefined ? undefined : this.#checkOperationOptions(options).signal;
      signal?.throwIfAborted();
    } catch (err) {
      return Promise.reject(err);
    }
    const refused = this.#writeRefusal();
    if (refused !== undefined) return Promise.reject(refused);
    if (this.#options.heartbeat) this.#lastWrite = Date.now();
    const written = this.#writeTail.then(() => this.#writeNow(bytes, signal));
    this.#writeTail = written.catch(noop);
    return signal ? abortable(written, signal) : written;
  }

  /** A write accepted before close() still flushes; after reset or abort the source refuses it. */
  async #writeNow(bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    try {
      await this.#source.write(bytes);
    } catch (err) {
      throw this.#writeError(err);
    }
  }

  #writeRefusal(): unknown {
    if (this.#stop) return this.#refusal("write");
    if (this.#writeClosed) return new SocketClosedError("Cannot write: the write side was closed here with closeWrite()");
    if (this.#failure) return relabel(this.#failure, "write");
    return undefined;
  }

  #writeError(err: unknown): unknown {
    if (this.#stop) return this.#refusal("write");
    const error = toSocketError(err, "write");
    if (error instanceof SocketClosedError && this.#failure) return relabel(this.#failure, "write");
    this.#failure ??= error;
    return error;
  }

  async closeWrite(): Promise<void> {
    if (this.#stop) throw this.#refusal("write");
    if (this.#writeClosed) return;
    this.#writeClosed = true;
    if (this.#heartbeatTimer !== undefined) clearTimeout(this.#heartbeatTimer);
    await this.#writeTail;
    try {
      await this.#source.closeWrite();
    } catch (err) {
      throw this.#writeError(err);
    }
    if (this.#readEnd === null) this.#release();
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#closeGracefully());
  }

  async #closeGracefully(): Promise<void> {
    if (this.#stop?.by === "unwrapped") return;
    this.#halt({ by: "local" });
    await this.#writeTail;
    if (!this.#sourceClosed) {
      try {
        await this.#source.close();
      } catch {
        this.#source.destroy();
      }
    }
    await this.closed;
  }

  reset(): void {
    if (this.#stop?.by === "unwrapped") return;
    this.#halt({ by: "local" });
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
    case "ERR_TLS_TRUNCATED":
      return "truncated";
    default:
      return "error";
  }
}

function signalReasonFor(reason: EndReason): SocketError {
  return reason === "eof"
    ? new SocketError("The peer closed the connection", "EOF")
    : reason === "truncated"
    ? new TlsTruncatedError()
    : new SocketClosedError("The connection was closed here");
}

/** The same failure, worded for another operation ("Cannot write: connection reset by peer"). */
function relabel(error: SocketError, operation: SocketOperation): SocketError {
  return error.cause === undefined ? error : toSocketError(error.cause, operation);
}

/** `promise`, or `signal.reason` as soon as `signal` aborts (the work itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
