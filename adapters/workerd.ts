/**
 * hangup on Cloudflare Workers (workerd): `connect()` of `cloudflare:sockets`, made a
 * `Conn` by `fromStreams`. Workers cannot listen, so there is no `listen` (and no `wrap`).
 *
 * workerd reports a reset as a plain `Error("Network connection lost.")` and still
 * resolves `socket.closed`; the adapter reads that message as a reset, which is what it
 * is from the peer's side. It cannot tell a reset from other losses of the connection.
 *
 * @example
 * ```ts
 * import { connect } from "hangup/workerd";
 * export default {
 *   async fetch() {
 *     const conn = await connect({ hostname: "db.internal", port: 7000, idleTimeout: 10_000 });
 *     await conn.write("PING\n");
 *     const line = await conn.readUntil("\n");
 *     await conn.close();
 *     return new Response(line);
 *   },
 * };
 * ```
 *
 * @module
 */
import { connect as socketsConnect } from "cloudflare:sockets";
import {
  type Capabilities,
  checkConnectOptions,
  type Conn,
  type ConnectOptions,
  connOptionsOf,
  defineCapabilities,
  fromStreams,
  type Runtime,
  type StreamNative,
  toSocketError,
  withDeadline,
} from "../src/index.ts";

export * from "../src/public.ts";

/**
 * Which adapter this entry is.
 *
 * @example
 * ```ts
 * import { runtime } from "hangup";
 * console.log(runtime); // "workerd" when this adapter was picked
 * if (runtime === "deno") console.log("typed as the union of the four names: portable code compiles");
 * ```
 */
export const runtime: Runtime = "workerd";

/**
 * What Workers can do (README: "Cloudflare Workers (workerd)"): connect only, over TCP; no RST
 * (`reset()` aborts the streams), no socket options; workerd's TLS tells a truncation apart.
 *
 * @example
 * ```ts
 * import { capabilities } from "hangup/workerd";
 * console.log(capabilities.listen); // false
 * ```
 */
export const capabilities: Readonly<Capabilities> = defineCapabilities({
  reset: false,
  halfClose: true,
  keepAlive: false,
  keepAliveDelay: false,
  noDelay: false,
  serverStartTls: false,
  tlsTruncation: false,
  falseEof: false,
  listen: false,
  unixSockets: false,
  wrap: false,
});

/** workerd's errors carry no code: give the ones hangup can name a code from their message. */
function translateError(error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  const code = /connection lost|connection reset/i.test(message)
    ? "ECONNRESET"
    : /refused|cannot connect to the specified address/i.test(message)
    ? "ECONNREFUSED" // workerd's one message for a failed connect: mostly refused, maybe unreachable
    : /timed out/i.test(message)
    ? "ETIMEDOUT"
    : undefined;
  if (code === undefined) return error;
  return Object.assign(new Error(message, { cause: error }), { code });
}

/**
 * Connects over TCP (`hostname`, default `127.0.0.1`, and `port`) with
 * `cloudflare:sockets`, half-open allowed. Rejects with `ConnectionRefusedError` or a
 * `SocketError` when the connection cannot be opened, `TimedOutError` after `timeout` ms,
 * `signal.reason`, or a TypeError/RangeError for bad options (Unix paths are refused).
 *
 * @example
 * ```ts
 * import { connect } from "hangup/workerd";
 * const conn = await connect({ hostname: "127.0.0.1", port: 7000, timeout: 5000 });
 * ```
 */
export async function connect(options: ConnectOptions): Promise<Conn<StreamNative>> {
  const { endpoint, timeout, options: o } = checkConnectOptions(options);
  if (endpoint.transport !== "tcp") throw new TypeError("Workers connect over TCP only: give hostname and port, not path");
  const socket = socketsConnect({ hostname: endpoint.hostname, port: endpoint.port }, { allowHalfOpen: true });
  const opened = socket.opened.catch((err: unknown) => Promise.reject(toSocketError(translateError(err), "connect")));
  await withDeadline(opened, {
    timeout,
    signal: o.signal,
    cancel: () => void socket.close().catch(() => {}),
    discard: () => void socket.close().catch(() => {}),
  });
  return fromStreams(
    {
      readable: socket.readable,
      writable: socket.writable,
      remoteAddr: { transport: "tcp", hostname: endpoint.hostname, port: endpoint.port },
      translateError,
    },
    connOptionsOf(o),
  );
}
