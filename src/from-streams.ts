import { createConn } from "./conn.ts";
import { checkOptionsObject, describe } from "./options.ts";
import type { ConnSink, ConnSource } from "./source.ts";
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
  readonly localAddr?: Addr;
  /** Reported as `conn.remoteAddr`; same default. */
  readonly remoteAddr?: Addr;
  /**
   * Translates the streams' errors before hangup maps them with `toSocketError`, for a
   * platform whose errors carry no code (workerd's "Network connection lost.").
   */
  readonly translateError?: (error: unknown) => unknown;
  /** Reported as `conn.tls`, for streams that are already TLS (a Workers socket with `secureTransport`). */
  readonly tls?: TlsInfo;
}

/**
 * What `unwrap().native` is for a `Conn` made by `fromStreams`: the writable, and a
 * readable that continues the original stream after the bytes in `buffered`.
 *
 * @example
 * ```ts
 * const { buffered, native } = conn.unwrap();
 * const reader = native.readable.getReader();
 * ```
 */
export interface StreamNative {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

const UNKNOWN_ADDR: Addr = { transport: "tcp", hostname: "", port: 0 };
const noop = (): void => {};

/**
 * A `Conn` over a Web Streams pair: the same reads, helpers, timeouts and
 * errors as every adapter. A stream can only say "done" or "errored", so the
 * end is `eof` when the readable closes and whatever its error maps to when it
 * errors (`toSocketError`); `reset()` aborts the writable and cancels the readable.
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
  return createConn(streamSource(streams), options);
}

function streamSource(streams: StreamPair): ConnSource<StreamNative> {
  const translate = streams.translateError ?? ((error: unknown) => error);
  const reader = streams.readable.getReader();
  const writer = streams.writable.getWriter();
  let sink: ConnSink | undefined;
  let paused = false;
  let wakePump: (() => void) | undefined;
  let stopped = false;
  let released = false;
  /** The read the pump waits on; after unwrap its chunk goes to the new owner. */
  let inFlight: Promise<ReadResult> | undefined;
  let handedOver: StreamNative | undefined;

  const release = (): void => {
    stopped = true;
    wakePump?.();
    if (released) return;
    released = true;
    sink?.closed();
  };

  const abort = (): void => {
    if (!released) {
      writer.abort().catch(noop);
      reader.cancel().catch(noop);
    }
    release();
  };

  const pump = async (): Promise<void> => {
    for (;;) {
      while (paused && !stopped) await new Promise<void>((resolve) => (wakePump = resolve));
      if (stopped) return;
      let result: ReadResult;
      try {
        inFlight = reader.read();
        result = await inFlight;
      } catch (err) {
        if (!stopped) sink!.error(translate(err));
        return;
      } finally {
        inFlight = undefined;
      }
      if (stopped) return;
      if (result.done) return sink!.end();
      sink!.data(result.value);
    }
  };

  /** The rest of the readable for the new owner: the in-flight chunk first, then the original stream. */
  const continuation = (pending: Promise<ReadResult> | undefined): ReadableStream<Uint8Array> =>
    new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const result = await (pending ?? reader.read());
          pending = undefined;
          if (result.done) controller.close();
          else controller.enqueue(result.value);
        },
        // Cancelled, the original stream is unlocked again: a Workers socket's startTls() needs it so.
        async cancel(reason) {
          await reader.cancel(reason);
          reader.releaseLock();
        },
      },
      { highWaterMark: 0 },
    );

  return {
    localAddr: streams.localAddr ?? UNKNOWN_ADDR,
    remoteAddr: streams.remoteAddr ?? UNKNOWN_ADDR,
    tls: streams.tls,
    get native() {
      return handedOver ?? { readable: streams.readable, writable: streams.writable };
    },
    start(s) {
      sink = s;
      void pump();
    },
    pause: () => void (paused = true),
    resume() {
      paused = false;
      wakePump?.();
    },
    write: (bytes) => writer.write(bytes).catch((err: unknown) => Promise.reject(translate(err))),
    closeWrite: () => writer.close().catch((err: unknown) => Promise.reject(translate(err))),
    async close() {
      if (released) return;
      await writer.close().catch(noop);
      reader.cancel().catch(noop);
      release();
    },
    destroy: abort,
    // Streams have no abortive close: abort and cancel are the closest.
    reset: abort,
    detach() {
      stopped = true;
      wakePump?.();
      writer.releaseLock();
      handedOver = { readable: continuation(inFlight), writable: streams.writable };
    },
  };
}
