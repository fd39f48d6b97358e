import { createConn } from "./conn.ts";
import { checkOptionsObject, describe } from "./options.ts";
import { PullSource, type PullTransport } from "./pull-source.ts";
import type { Addr, Conn, ConnOptions, TlsInfo } from "./types.ts";

/**
 * A byte stream pair, such as a WinterTC `connect()` socket or Deno's `conn.readable` / `conn.writable`.
 *
 * @example
 * ```ts
 * // `socket`: any byte stream pair, such as the result of a WinterTC `connect()`
 * const conn = fromStreams({
 *   readable: socket.readable,
 *   writable: socket.writable,
 *   remoteAddr: { transport: "tcp", hostname: "10.0.0.5", port: 7000 },
 * });
 * ```
 */
export interface StreamPair {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Reported as `conn.localAddr`; streams do not know it, so the default is `{ transport: "tcp", hostname: "", port: 0 }`. */
  readonly localAddr?: Addr | undefined;
  /** Reported as `conn.remoteAddr`; same default. */
  readonly remoteAddr?: Addr | undefined;
  /** Reported as `conn.tls`, for streams that are already TLS (a Workers socket with `secureTransport`). */
  readonly tls?: TlsInfo | undefined;
  /**
   * Translates the streams' errors before hangup maps them with `toSocketError`, for a
   * platform whose errors carry no code (workerd's "Network connection lost.").
   */
  readonly translateError?: ((error: unknown) => unknown) | undefined;
  /**
   * The streams are a TCP socket that the runtime drops when the work that opened it ends (a
   * Worker's request): `close()` sends the FIN, then reads and drops what the peer sends until
   * its FIN, 2 s at most, and only then resolves. A peer's bytes reaching a dropped socket make
   * the kernel answer with an RST that discards what it still held of ours.
   */
  readonly lingerInClose?: boolean | undefined;
  /**
   * Drops the connection beneath the streams at once (`() => socket.close()` for a Workers socket), for
   * `reset()` and every other end hangup gives a connection itself: a timeout, an aborted
   * `signal`, the end of `close()`'s linger. The writable is aborted and the readable cancelled
   * once it settled (its error is ignored); without it that is all hangup does, and workerd
   * keeps the connection open until the request ends.
   */
  readonly destroy?: (() => unknown) | undefined;
}

/**
 * What `unwrap().native` is for a `Conn` made by `fromStreams`: the writable, and a
 * readable that continues the original stream after the bytes in `buffered`.
 *
 * @example
 * ```ts
 * const conn = fromStreams({ readable: socket.readable, writable: socket.writable });
 * const { buffered, native } = conn.unwrap();
 * const reader = native.readable.getReader();
 * ```
 */
export interface StreamNative {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

const UNKNOWN_ADDR: Addr = { transport: "tcp", hostname: "", port: 0 };
const noop = (): void => {};

/**
 * A `Conn` over a Web Streams pair: the same reads, helpers, timeouts and
 * errors as every adapter. A stream can only say "done" or "errored", so the
 * end is `eof` when the readable closes and whatever its error maps to when it
 * errors (`toSocketError`); `reset()` aborts the writable and cancels the readable (once
 * `streams.destroy` ran, when given).
 * `unwrap().native` is `{ readable, writable }`, where `readable` continues the
 * original stream after the bytes in `buffered`.
 *
 * @param streams the pair; hangup takes both locks
 * @param options `ConnOptions` (`keepAlive` and `noDelay` have no effect on streams)
 * @example
 * ```ts
 * import { connect as cfConnect } from "cloudflare:sockets";
 * import { fromStreams } from "hangup/core";
 * const socket = cfConnect({ hostname: "example.com", port: 7000 });
 * const conn = fromStreams(socket, { idleTimeout: 30_000 });
 * await conn.write("PING\n");
 * console.log(await conn.readUntil("\n"));
 * ```
 */
export function fromStreams(streams: StreamPair, options?: ConnOptions): Conn<StreamNative> {
  const pair = checkOptionsObject(streams, "streams");
  const { readable, writable } = pair;
  if (typeof (readable as ReadableStream | undefined)?.getReader !== "function") {
    throw new TypeError(`streams.readable must be a ReadableStream, got ${describe(readable)}`);
  }
  if (typeof (writable as WritableStream | undefined)?.getWriter !== "function") {
    throw new TypeError(`streams.writable must be a WritableStream, got ${describe(writable)}`);
  }
  if ((readable as ReadableStream).locked) throw new TypeError("streams.readable is locked: another reader holds it");
  if ((writable as WritableStream).locked) throw new TypeError("streams.writable is locked: another writer holds it");
  return createConn(new PullSource(new StreamTransport(streams)), options);
}

/** A stream pair's verbs for the core's pull source, which owns the pump. */
class StreamTransport implements PullTransport<StreamNative> {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  readonly tls: TlsInfo | undefined;
  readonly linger: (() => void) | undefined;
  readonly closeAwaitsLinger: boolean;
  readonly #streams: StreamPair;
  readonly #translate: (error: unknown) => unknown;
  readonly #destroy: (() => unknown) | undefined;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #handedOver: StreamNative | undefined;

  constructor(streams: StreamPair) {
    this.#streams = streams;
    this.localAddr = streams.localAddr ?? UNKNOWN_ADDR;
    this.remoteAddr = streams.remoteAddr ?? UNKNOWN_ADDR;
    this.tls = streams.tls;
    // Nothing to do when the linger starts: the pump reads on and the core drops the bytes.
    this.linger = streams.lingerInClose === true ? noop : undefined;
    this.closeAwaitsLinger = streams.lingerInClose === true;
    this.#translate = streams.translateError ?? ((error: unknown) => error);
    this.#destroy = streams.destroy;
    this.#reader = streams.readable.getReader();
    this.#writer = streams.writable.getWriter();
  }

  get native(): StreamNative {
    return this.#handedOver ?? { readable: this.#streams.readable, writable: this.#streams.writable };
  }

  read(): Promise<Uint8Array | null> {
    return this.#reader.read().then(
      (result) => (result.done ? null : result.value),
      (err: unknown) => Promise.reject(this.#translate(err)),
    );
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#writer.write(bytes).catch((err: unknown) => Promise.reject(this.#translate(err)));
  }

  closeWrite(): Promise<void> {
    return this.#writer.close().catch((err: unknown) => Promise.reject(this.#translate(err)));
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(noop);
    this.#reader.cancel().catch(noop);
  }

  destroy(): void {
    const destroyed = this.#destroy === undefined ? undefined : Promise.resolve().then(this.#destroy);
    // Aborted at once, workerd's streams stop its socket's close() from sending a FIN.
    if (destroyed) void destroyed.catch(noop).then(() => this.#abortStreams());
    else this.#abortStreams();
  }

  #abortStreams(): void {
    this.#writer.abort().catch(noop);
    this.#reader.cancel().catch(noop);
  }

  reset(): void {
    // Streams have no abortive close: abort and cancel are the closest.
    this.destroy();
  }

  detach(pending: Promise<Uint8Array | null> | undefined): void {
    this.#writer.releaseLock();
    const reader = this.#reader;
    // The rest of the readable for the new owner: the in-flight chunk first, then the original stream.
    const readable = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const chunk = await (pending ?? reader.read().then((result) => (result.done ? null : result.value)));
          pending = undefined;
          if (chunk === null) controller.close();
          else controller.enqueue(chunk);
        },
        // Cancelled, the original stream is unlocked again: a Workers socket's startTls() needs it so.
        async cancel(reason) {
          await reader.cancel(reason);
          reader.releaseLock();
        },
      },
      { highWaterMark: 0 },
    );
    this.#handedOver = { readable, writable: this.#streams.writable };
  }
}
