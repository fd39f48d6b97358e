import { createConnResolved } from "./conn.ts";
import {
  checkOptionsObject,
  checkSignal,
  CONN_OPTION_KEYS,
  OPERATION_OPTION_KEYS,
  refuseUnknownOptions,
  resolveConnOptions,
  type ResolvedConnOptions,
} from "./options.ts";
import type { ConnSource, ListenerSource } from "./source.ts";
import type { Addr, Conn, ConnOptions, Listener, OperationOptions } from "./types.ts";

/**
 * Most accepted connections held for the application; past it the listener stops
 * accepting where the runtime can, and resets newcomers where it cannot.
 */
const MAX_QUEUED = 128;

/**
 * Builds a `Listener` over an adapter's listening source. `options` (ConnOptions)
 * apply to every accepted connection; aborting `options.signal` also closes the listener.
 *
 * @example
 * ```ts
 * import { createListener } from "hangup/core";
 * const listener = createListener(myListenerSource, { idleTimeout: 60_000 });
 * for await (const conn of listener) handle(conn);
 * ```
 */
export function createListener<A extends Addr = Addr, Native = unknown>(
  source: ListenerSource<A, Native>,
  options?: ConnOptions,
): Listener<A, Native> {
  refuseUnknownOptions(checkOptionsObject(options, "options"), "a listener's connections", CONN_OPTION_KEYS);
  return new SourceListener(source, resolveConnOptions(options));
}

class SourceListener<A extends Addr, Native> implements Listener<A, Native> {
  readonly addr: A;
  readonly #source: ListenerSource<A, Native>;
  /** Checked once; every accepted connection shares them. */
  readonly #connOptions: ResolvedConnOptions;
  readonly #queue: ConnSource<Native>[] = [];
  #head = 0;
  #paused = false;
  #referenced = true;
  #closing: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(source: ListenerSource<A, Native>, connOptions: ResolvedConnOptions) {
    this.#source = source;
    this.#connOptions = connOptions;
    this.addr = source.addr;
    source.start({ connection: (conn) => this.#onConnection(conn) });
    const signal = connOptions.signal;
    if (signal?.aborted) void this.close();
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => void this.close();

  #onConnection(conn: ConnSource<Native>): void {
    if (this.#closing || this.#queued() >= MAX_QUEUED) {
      conn.reset();
      return;
    }
    this.#queue.push(conn);
    if (this.#queued() >= MAX_QUEUED && this.#source.pause) {
      this.#paused = true;
      this.#source.pause();
    }
    this.#wake?.();
  }

  #queued(): number {
    return this.#queue.length - this.#head;
  }

  #next(): ConnSource<Native> | undefined {
    if (this.#queued() === 0) return undefined;
    const conn = this.#queue[this.#head++]!;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    if (this.#paused) {
      this.#paused = false;
      this.#source.resume?.();
    }
    return conn;
  }

  async accept(options?: OperationOptions): Promise<Conn<Native> | null> {
    const o = checkOptionsObject(options, "options");
    refuseUnknownOptions(o, "accept", OPERATION_OPTION_KEYS);
    const signal = checkSignal(o.signal, "options.signal");
    for (;;) {
      signal?.throwIfAborted();
      if (this.#closing) return null;
      const source = this.#next();
      if (source) return createConnResolved(source, this.#connOptions);
      if (this.#wake) throw new TypeError("Cannot accept: another accept() is already pending on this listener");
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.#wake = undefined;
          reject(signal!.reason);
        };
        this.#wake = () => {
          this.#wake = undefined;
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Conn<Native>, undefined, unknown> {
    for (;;) {
      const conn = await this.accept();
      if (conn === null) return;
      yield conn;
    }
  }

  ref(): void {
    this.#setReferenced(true);
  }

  unref(): void {
    this.#setReferenced(false);
  }

  #setReferenced(referenced: boolean): void {
    if (referenced === this.#referenced || this.#closing) return;
    this.#referenced = referenced;
    this.#source.setRef?.(referenced);
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#closeNow());
  }

  async #closeNow(): Promise<void> {
    this.#connOptions.signal?.removeEventListener("abort", this.#onAbort);
    for (let conn = this.#next(); conn; conn = this.#next()) conn.reset();
    this.#wake?.();
    await this.#source.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
