/**
 * A `ConnSource` for a runtime that is read by asking (`await conn.read(buffer)`,
 * `await reader.read()`) rather than by events. It owns the pump: one read at a
 * time, stopped while the core is full and woken when it drains, stopped for good
 * by a close or `unwrap()`, and the read still in flight at `unwrap()` handed to
 * the transport, whose bytes belong to the new owner. The transport only says how
 * to read, write and close its runtime's handle.
 *
 * @module
 */
import type { ConnSink, ConnSource } from "./source.ts";
import type { Addr, TlsInfo } from "./types.ts";

/**
 * One runtime handle's verbs, for `PullSource`. The closing verbs keep the meanings of
 * `ConnSource`'s; `PullSource` calls each at most once per close and reports `closed` itself.
 *
 * @example
 * ```ts
 * const transport: PullTransport<MyConn> = {
 *   localAddr, remoteAddr, native: myConn,
 *   read: async () => { const b = new Uint8Array(65536); const n = await myConn.read(b); return n === null ? null : b.subarray(0, n); },
 *   write: (bytes) => myConn.writeAll(bytes),
 *   closeWrite: () => myConn.closeWrite(),
 *   close: async () => myConn.close(), destroy: () => myConn.close(), reset: () => myConn.abort(),
 *   detach: (pending) => keepForNextOwner(myConn, pending),
 * };
 * ```
 */
export interface PullTransport<Native> {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  /** The runtime's handle, handed out by `Conn.unwrap()` (a getter may give a different one after `detach`). */
  readonly native: Native;
  readonly tls?: TlsInfo | undefined;
  /**
   * The next bytes from the peer, or `null` at its FIN; rejects with the runtime's error. The
   * chunk is the core's from then on: a reused buffer must be copied out. Never called while a
   * previous call is pending.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Write all of `bytes`. Not called again while a previous call is pending, except once at
   * `Conn.unwrap()`, right before `detach`: the rest of a write sent in pieces, which must go out
   * after the pending one (ConnSource's rules).
   */
  write(bytes: Uint8Array): Promise<void>;
  closeWrite(): Promise<void>;
  /** Graceful close of both directions; reading has stopped, so a read failing because of it is ignored. */
  close(): Promise<void>;
  /** Release the handle now, without an RST where the runtime can. */
  destroy(): void;
  /** Abortive close: RST where the runtime can. */
  reset(): void;
  /**
   * Leave the handle open for a new owner. `pending` is the read still in flight (it cannot be
   * cancelled): its chunk is the first the new owner must get.
   */
  detach(pending: Promise<Uint8Array | null> | undefined): void;
  /** See `ConnSource.linger`: a transport over a socket whose close can meet an RST has it. */
  readonly linger?: (() => void) | undefined;
  /** See `ConnSource.closeAwaitsLinger`. */
  readonly closeAwaitsLinger?: boolean | undefined;
  setKeepAlive?(delay: number | false): void;
  setNoDelay?(noDelay: boolean): void;
  /** See `ConnSource.setRef`: the pending read follows it too. */
  setRef?(referenced: boolean): void;
}

/**
 * A `ConnSource` over a `PullTransport`: the pump, pause and wake, the end of reading on
 * close, and the hand-over of the in-flight read on `unwrap()`, written once.
 *
 * @example
 * ```ts
 * import { createConn, PullSource } from "hangup/core";
 * const conn = createConn(new PullSource(transport), { idleTimeout: 30_000 });
 * ```
 */
export class PullSource<Native> implements ConnSource<Native> {
  readonly #transport: PullTransport<Native>;
  #sink: ConnSink | undefined;
  #paused = false;
  /** Closed here or detached: what the pending read reports is no longer the peer's news. */
  #stopped = false;
  #released = false;
  /** The read the pump waits on, handed to the transport on detach. */
  #inFlight: Promise<Uint8Array | null> | undefined;
  /**
   * The read's reactions, made once per connection rather than twice per read: less young garbage
   * per chunk keeps V8 (Deno) from a repeated mark-compact while bytes stream in.
   */
  readonly #onRead = (chunk: Uint8Array | null): void => this.#onChunk(chunk);
  readonly #onFail = (err: unknown): void => this.#onReadError(err);

  constructor(transport: PullTransport<Native>) {
    this.#transport = transport;
  }

  get localAddr(): Addr {
    return this.#transport.localAddr;
  }

  get remoteAddr(): Addr {
    return this.#transport.remoteAddr;
  }

  get native(): Native {
    return this.#transport.native;
  }

  get tls(): TlsInfo | undefined {
    return this.#transport.tls;
  }

  #stop(): void {
    this.#stopped = true;
  }

  #release(): void {
    this.#stop();
    if (this.#released) return;
    this.#released = true;
    this.#sink?.closed();
  }

  /**
   * Starts the next read unless one is in flight, reading is paused (`resume()` starts it) or
   * stopped. Callbacks, not an async loop: an idle connection waits here, and a suspended async
   * function keeps a generator and a promise alive for it.
   */
  #pull(): void {
    if (this.#stopped || this.#paused || this.#inFlight) return;
    let reading: Promise<Uint8Array | null>;
    try {
      reading = this.#transport.read();
    } catch (err) {
      reading = Promise.reject(err);
    }
    this.#inFlight = reading;
    reading.then(this.#onRead, this.#onFail);
  }

  #onChunk(chunk: Uint8Array | null): void {
    this.#inFlight = undefined;
    if (this.#stopped) return;
    if (chunk === null) {
      this.#stopped = true; // nothing more to read: a later resume() must not read again
      return this.#sink!.end();
    }
    this.#sink!.data(chunk);
    this.#pull();
  }

  #onReadError(err: unknown): void {
    this.#inFlight = undefined;
    if (this.#stopped) return;
    this.#stopped = true;
    this.#sink!.error(err);
  }

  start(sink: ConnSink): void {
    this.#sink = sink;
    if (this.#released) sink.closed();
    else this.#pull();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#pull();
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#transport.write(bytes);
  }

  closeWrite(): Promise<void> {
    return this.#transport.closeWrite();
  }

  async close(): Promise<void> {
    if (this.#released) return;
    this.#stop();
    try {
      await this.#transport.close();
    } finally {
      this.#release();
    }
  }

  destroy(): void {
    if (!this.#released) {
      this.#stop();
      this.#transport.destroy();
    }
    this.#release();
  }

  reset(): void {
    if (!this.#released) {
      this.#stop();
      this.#transport.reset();
    }
    this.#release();
  }

  detach(): void {
    this.#stop();
    this.#transport.detach(this.#inFlight);
  }

  /** See `ConnSource.linger`: present when the transport's is; made when asked, at a close. */
  get linger(): (() => void) | undefined {
    const transport = this.#transport;
    return transport.linger ? () => transport.linger!() : undefined;
  }

  get closeAwaitsLinger(): boolean {
    return this.#transport.closeAwaitsLinger === true;
  }

  setKeepAlive(delay: number | false): void {
    this.#transport.setKeepAlive?.(delay);
  }

  setNoDelay(noDelay: boolean): void {
    this.#transport.setNoDelay?.(noDelay);
  }

  setRef(referenced: boolean): void {
    this.#transport.setRef?.(referenced);
  }
}
