import { SocketError } from "./errors.ts";
import { setLongTimeout } from "./long-timeout.ts";
import { currentConn, defaultWriteTimeout, resetConnForGood } from "./conn.ts";
import { checkDuration, checkInteger, checkOptionsObject, checkSignal, describe, refuseUnknownOptions } from "./options.ts";
import type { Addr, Conn, Listener } from "./types.ts";

/**
 * Options of `serve`.
 *
 * @example
 * ```ts
 * const stop = new AbortController();
 * await serve(listener, handler, { signal: stop.signal, drainTimeout: 5000, maxConnections: 1000,
 *   onError: (err, conn) => console.error(conn.remoteAddr, err) });
 * ```
 */
export interface ServeOptions<Native = unknown> {
  /**
   * Stop: no new connections; running handlers get `drainTimeout` ms, then their connections are
   * reset. A handler that waits between requests (HTTP keep-alive) should wait with this signal
   * too (`conn.peek({ signal })`), so that an idle client does not hold the shutdown for
   * `drainTimeout` and then meet a reset.
   */
  signal?: AbortSignal | undefined;
  /**
   * ms handlers get to finish after `signal` aborts; default 10000. Then their connections are
   * reset, which ends every read, write and `startTls()` handshake; `serve()` still waits for
   * each handler to return, so one that awaits something else keeps it pending.
   */
  drainTimeout?: number | undefined;
  /** Most handlers running at once; connections past it are closed at once. */
  maxConnections?: number | undefined;
  /**
   * Where a handler's throw lands; default: reported on stderr, unless it is a `SocketError` or
   * the connection's abort reason (a shutdown through `listen`'s `signal`).
   */
  onError?: ((error: unknown, conn: Conn<Native>) => void) | undefined;
  /**
   * `writeTimeout` for every connection whose options leave it absent; default 60000 (as nginx's
   * `send_timeout`), 0 for none (`close()` still bounds its flush: 60 s without the peer taking a
   * 256 KiB piece). A client that stops reading cannot hold a handler or `close()` longer.
   */
  writeTimeout?: number | undefined;
}

/** The write timeout `serve()` gives connections that have none of their own. */
export const SERVE_WRITE_TIMEOUT = 60_000;

/**
 * The default `onError`: a handler's own failure, on stderr. Not a `SocketError` (the peer's
 * doing), nor the connection's abort reason (the server was shut down through `listen`'s signal).
 */
const reportOnStderr = (error: unknown, conn: Conn<unknown>): void => {
  if (error instanceof SocketError || (conn.signal.aborted && error === conn.signal.reason)) return;
  console.error("hangup: a connection handler threw:", error);
};

/**
 * Runs `handler` for every connection of `listener`, concurrently. A handler's
 * throw, a client's reset, any per-connection failure never stops the server.
 * Each connection is closed when its handler settles. Resolves once the listener
 * is closed and every handler has settled.
 *
 * @example
 * ```ts
 * import { listen, serve } from "hangup";
 * const listener = await listen({ port: 7000 });
 * const stop = new AbortController();
 * await serve(listener, async (conn) => {
 *   for await (const line of conn.lines()) await conn.write(`echo: ${line}\n`);
 * }, { signal: stop.signal, maxConnections: 1000 });
 * ```
 */
export async function serve<Native = unknown>(
  listener: Listener<Addr, Native>,
  handler: (conn: Conn<Native>) => unknown,
  options?: ServeOptions<Native>,
): Promise<void> {
  if (!isListener(listener)) throw new TypeError(`listener must be a Listener (from listen()), got ${describe(listener)}`);
  if (typeof handler !== "function") throw new TypeError(`handler must be a function, got ${describe(handler)}`);
  const o = checkOptionsObject(options, "options");
  refuseUnknownOptions(o, "serve", ["signal", "drainTimeout", "maxConnections", "onError", "writeTimeout"]);
  const signal = checkSignal(o.signal);
  const drainTimeout = checkDuration(o.drainTimeout, "drainTimeout", 10_000);
  const maxConnections = checkInteger(o.maxConnections, "maxConnections", Number.MAX_SAFE_INTEGER, 1);
  if (o.onError !== undefined && typeof o.onError !== "function") {
    throw new TypeError(`onError must be a function, got ${describe(o.onError)}`);
  }
  const onError = (o.onError as ServeOptions<Native>["onError"]) ?? reportOnStderr;
  const writeTimeout = checkDuration(o.writeTimeout, "writeTimeout", SERVE_WRITE_TIMEOUT);
  // A second serve() would fail on the first one's pending accept() and close the listener under it.
  if (served.has(listener)) throw new TypeError("Cannot serve: this listener is already being served");
  served.add(listener);

  const running = new Set<Promise<void>>();
  const conns = new Set<Conn<Native>>();
  const stop = (): void => void listener.close();
  if (signal?.aborted) stop();
  signal?.addEventListener("abort", stop, { once: true });

  const run = async (conn: Conn<Native>): Promise<void> => {
    defaultWriteTimeout(conn, writeTimeout);
    try {
      await handler(conn);
    } catch (error) {
      try {
        onError(error, conn);
      } catch (reportError) {
        console.error("hangup: onError threw:", reportError, "reporting:", error);
      }
    } finally {
      // The connection startTls() upgraded it to, if the handler did: serve() closes that one.
      const current = currentConn(conn);
      await current.close().catch(() => current.reset());
    }
  };

  try {
    for await (const conn of listener) {
      if (conns.size >= maxConnections) {
        void conn.close().catch(() => conn.reset());
        continue;
      }
      conns.add(conn);
      const task = run(conn).finally(() => {
        conns.delete(conn);
        running.delete(task);
      });
      running.add(task);
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    served.delete(listener);
    await listener.close();
    if (running.size > 0) {
      // The listener may have been closed another way (listener.close(), `await using`): the
      // signal still drains the handlers when it aborts while they run.
      if (signal !== undefined && !signal.aborted) await untilDoneOrAborted(Promise.all(running), signal);
      if (signal?.aborted) await drain(running, conns, drainTimeout);
      await Promise.all(running);
    }
  }
}

/** Listeners a serve() is accepting from. */
const served = new WeakSet<object>();

/** Resolves when `done` settles or `signal` aborts, whichever comes first. */
async function untilDoneOrAborted(done: Promise<unknown>, signal: AbortSignal): Promise<void> {
  let onAbort!: () => void;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([done, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Waits up to `timeout` ms for the handlers, then resets the connections left. */
async function drain(running: Set<Promise<void>>, conns: Set<Conn>, timeout: number): Promise<void> {
  let cancelTimer: (() => void) | undefined;
  const timedOut = new Promise<void>((resolve) => (cancelTimer = setLongTimeout(resolve, timeout)));
  await Promise.race([Promise.all(running), timedOut]);
  cancelTimer?.();
  for (const conn of conns) resetConnForGood(conn);
}

function isListener(value: unknown): value is Listener<Addr, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<Listener<Addr, unknown>>;
  return typeof candidate.close === "function" && typeof candidate[Symbol.asyncIterator] === "function";
}
