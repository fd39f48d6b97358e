/**
 * One RESP connection served with hangup: every command decoded with one `await`, every reply
 * written without waiting for it, and the writes awaited (backpressure) once no more input is
 * buffered or 64 KiB of replies wait, so a pipelining client's burst of commands gets its burst
 * of replies in as few runtime writes as the core can merge, and a client that never reads
 * holds no more than that.
 *
 * @example
 * ```ts
 * import { listen, serve } from "hangup";
 * import { RespStore } from "./decode.ts";
 * import { serveResp } from "./serve.ts";
 * const store = new RespStore();
 * await serve(await listen({ port: 6379, noDelay: true }), (conn) => serveResp(conn, store));
 * ```
 *
 * @module
 */
import type { Conn } from "hangup";
import { decodeCommand, RespProtocolError, type RespStore } from "./decode.ts";

/**
 * How `serveResp` bounds one connection.
 *
 * @example
 * ```ts
 * const options: ServeRespOptions = { maxBytes: 8 << 20 }; // SET values up to 8 MiB
 * ```
 */
export interface ServeRespOptions {
  /**
   * The largest command accepted, in bytes (default 64 KiB, `decode`'s default). A larger one
   * ends the call with `LimitExceededError`. Redis itself takes arguments up to 512 MiB; each
   * connection may hold this much while a command arrives, so size it for your clients.
   */
  maxBytes?: number;
}

/**
 * Answers `conn`'s commands from `store` until the client closes. A client that breaks the
 * protocol is reset; a client that resets or quits mid-command ends the call with hangup's error,
 * and so does a command over `maxBytes` (`LimitExceededError`).
 *
 * @example
 * ```ts
 * await serve(listener, (conn) => serveResp(conn, new RespStore(), { maxBytes: 8 << 20 }));
 * ```
 */
export async function serveResp(conn: Conn, store: RespStore, options: ServeRespOptions = {}): Promise<void> {
  try {
    await serveDecoded(conn, store, options.maxBytes);
  } catch (err) {
    if (!(err instanceof RespProtocolError)) throw err;
    conn.reset();
  }
}

/** Replies written without awaiting them, at most: then they are awaited before reading on. */
const UNAWAITED_BYTES = 64 * 1024;

async function serveDecoded(conn: Conn, store: RespStore, maxBytes: number | undefined): Promise<void> {
  let last: Promise<void> | undefined;
  let unawaited = 0;
  for await (const command of conn.decode(decodeCommand, maxBytes === undefined ? undefined : { maxBytes })) {
    const reply = store.execute(command);
    if (reply === null) continue;
    // Not awaited: hangup never lets a failed write go unhandled, and a failed write fails every
    // later one and the reads too, so the one awaited below reports it.
    last = conn.write(reply);
    unawaited += reply.length;
    // Nothing more buffered: the client waits for these replies, so let them go and take
    // backpressure before reading on. Input may never run dry (a client that never reads and
    // keeps a command half sent), so a bound on what waits takes backpressure too.
    if (conn.buffered === 0 || unawaited > UNAWAITED_BYTES) {
      await last;
      last = undefined;
      unawaited = 0;
    }
  }
  await last;
}
