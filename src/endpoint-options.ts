import {
  checkDuration,
  checkInteger,
  checkOptionsObject,
  CONN_OPTION_KEYS,
  describe,
  refuseUnknownOptions,
  resolveConnOptions,
} from "./options.ts";
import { checkTlsOptions, type ResolvedTlsOptions } from "./tls-options.ts";
import type { ConnOptions, ServerTlsOptions, TlsOptions } from "./types.ts";

/**
 * Options of `connect`: a TCP host and port, or a Unix socket path.
 *
 * @example
 * ```ts
 * await connect({ hostname: "127.0.0.1", port: 7000, timeout: 5000 });
 * await connect({ path: "/tmp/app.sock" });
 * ```
 */
export type ConnectOptions =
  & ({ hostname?: string | undefined; port: number; path?: undefined } | { path: string; hostname?: undefined; port?: undefined })
  & ConnOptions
  & {
    /** ms to wait for the connection, with `tls` its handshake included; rejects with `TimedOutError`. */
    timeout?: number | undefined;
    /** TLS from the first byte: `true` for the defaults, or TlsOptions. */
    tls?: true | TlsOptions | undefined;
  };

/**
 * Options of `listen`: a TCP host and port (0 or absent: ephemeral), or a Unix socket path.
 *
 * @example
 * ```ts
 * await listen({ hostname: "127.0.0.1", port: 0, backlog: 511, idleTimeout: 30_000 });
 * ```
 */
export type ListenOptions = TcpListenOptions | UnixListenOptions;

/**
 * Options of a TCP `listen`: its listener's `addr` is a `TcpAddr`.
 *
 * @example
 * ```ts
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 } satisfies TcpListenOptions);
 * console.log(listener.addr.port);
 * ```
 */
export type TcpListenOptions = { hostname?: string | undefined; port?: number | undefined; path?: undefined } & ConnOptions & {
  /** Length of the OS queue of connections not yet accepted. */
  backlog?: number | undefined;
  /** Accept TLS: `accept()` yields connections whose handshake completed. */
  tls?: ServerTlsOptions | undefined;
};

/**
 * Options of a Unix socket `listen`: its listener's `addr` is a `UnixAddr`.
 *
 * @example
 * ```ts
 * const listener = await listen({ path: "/tmp/app.sock" } satisfies UnixListenOptions);
 * console.log(listener.addr.path);
 * ```
 */
export type UnixListenOptions = { path: string; hostname?: undefined; port?: undefined } & ConnOptions & {
  /** Length of the OS queue of connections not yet accepted. */
  backlog?: number | undefined;
  /** Accept TLS: `accept()` yields connections whose handshake completed. */
  tls?: ServerTlsOptions | undefined;
};

/**
 * Where to connect or listen, checked.
 *
 * @example
 * ```ts
 * const { endpoint } = checkConnectOptions({ port: 7000 }); // { transport: "tcp", hostname: "127.0.0.1", port: 7000 }
 * ```
 */
export type Endpoint = { transport: "tcp"; hostname: string; port: number } | { transport: "unix"; path: string };

/**
 * A TCP `Addr` from what a runtime reports (either may be missing on a socket
 * that closed before it was looked at).
 *
 * @example
 * ```ts
 * tcpAddr(netSocket.remoteAddress, netSocket.remotePort); // { transport: "tcp", hostname: "127.0.0.1", port: 52114 }
 * ```
 */
export function tcpAddr(hostname: string | undefined, port: number | undefined): Endpoint & { transport: "tcp" } {
  return { transport: "tcp", hostname: hostname ?? "", port: port ?? 0 };
}

/**
 * The address `connect` uses when none is given.
 *
 * @example
 * ```ts
 * connect({ port: 7000 }); // connects to DEFAULT_CONNECT_HOSTNAME, "127.0.0.1"
 * ```
 */
export const DEFAULT_CONNECT_HOSTNAME = "127.0.0.1";
/**
 * The address `listen` binds when none is given: every IPv4 interface, as Deno and Bun do.
 *
 * @example
 * ```ts
 * listen({ port: 7000 }); // binds DEFAULT_LISTEN_HOSTNAME, "0.0.0.0"
 * ```
 */
export const DEFAULT_LISTEN_HOSTNAME = "0.0.0.0";

function endpointOf(o: Record<string, unknown>, portRequired: boolean, defaultHostname: string): Endpoint {
  if (o.path !== undefined) {
    if (typeof o.path !== "string" || o.path === "") throw new TypeError(`path must be a non-empty string, got ${describe(o.path)}`);
    if (o.port !== undefined || o.hostname !== undefined) {
      throw new TypeError("Give either path (Unix socket) or hostname and port (TCP), not both");
    }
    return { transport: "unix", path: o.path };
  }
  if (o.hostname !== undefined && (typeof o.hostname !== "string" || o.hostname === "")) {
    throw new TypeError(`hostname must be a non-empty string, got ${describe(o.hostname)}`);
  }
  if (portRequired && o.port === undefined) throw new TypeError("port is required (or path, for a Unix socket)");
  const port = checkInteger(o.port, "port", 0, portRequired ? 1 : 0, 65535);
  return { transport: "tcp", hostname: o.hostname === undefined ? defaultHostname : hostnameOf(o.hostname as string), port };
}

/**
 * A host name or numeric address as the runtimes take it. An IPv6 address in brackets, as
 * `new URL(...).hostname` gives it ("[::1]"), loses them: Deno took the brackets, Node refused
 * them. A port or a space in it is a mistake every runtime reported differently.
 */
function hostnameOf(hostname: string): string {
  if (/^\[[0-9a-f:.]*:[0-9a-f:.]*(%[^\]\s]+)?\]$/i.test(hostname)) return hostname.slice(1, -1);
  if (/\s/.test(hostname)) throw new TypeError(`hostname must not contain spaces, got ${JSON.stringify(hostname)}`);
  if (/^[^:]*:[^:]*$/.test(hostname) || /^\[.*\]:\d*$/.test(hostname)) {
    throw new TypeError(`hostname must not include a port, got ${JSON.stringify(hostname)}: give the port as port`);
  }
  return hostname;
}

const CONNECT_KEYS: readonly string[] = ["hostname", "port", "path", "timeout", "tls", ...CONN_OPTION_KEYS];
const LISTEN_KEYS: readonly string[] = ["hostname", "port", "path", "backlog", "tls", ...CONN_OPTION_KEYS];

/**
 * Checks `connect` options: the endpoint, `timeout` and every ConnOptions field.
 *
 * @example
 * ```ts
 * checkConnectOptions({ port: 70000 }); // RangeError: port must be an integer from 1 to 65535, got 70000
 * ```
 */
export function checkConnectOptions(
  options: unknown,
): { endpoint: Endpoint; timeout: number; tls: ResolvedTlsOptions | undefined; options: ConnectOptions } {
  const o = checkOptionsObject(options, "options");
  if (options === undefined) throw new TypeError("options must be an object with port (or path), got undefined");
  refuseUnknownOptions(o, "connect", CONNECT_KEYS);
  const endpoint = endpointOf(o, true, DEFAULT_CONNECT_HOSTNAME);
  const timeout = checkDuration(o.timeout, "timeout", 0);
  const tls = o.tls === undefined ? undefined : checkTlsOptions(o.tls, "tls", "client");
  resolveConnOptions(o);
  return { endpoint, timeout, tls, options: o as unknown as ConnectOptions };
}

/**
 * Checks `listen` options: the endpoint, `backlog` and every ConnOptions field.
 *
 * @example
 * ```ts
 * checkListenOptions({ port: -1 }); // RangeError: port must be an integer from 0 to 65535, got -1
 * ```
 */
export function checkListenOptions(
  options: unknown,
): { endpoint: Endpoint; backlog: number | undefined; tls: ResolvedTlsOptions | undefined; options: ListenOptions } {
  const o = checkOptionsObject(options, "options");
  refuseUnknownOptions(o, "listen", LISTEN_KEYS);
  const endpoint = endpointOf(o, false, DEFAULT_LISTEN_HOSTNAME);
  const backlog = o.backlog === undefined ? undefined : checkInteger(o.backlog, "backlog", 0, 1);
  const tls = o.tls === undefined ? undefined : checkTlsOptions(o.tls, "tls", "server");
  resolveConnOptions(o);
  return { endpoint, backlog, tls, options: o as unknown as ListenOptions };
}

/**
 * The ConnOptions part of connect/listen options, for `createConn` / `createListener`.
 *
 * @example
 * ```ts
 * const conn = createConn(source, connOptionsOf(options)); // drops port, hostname, timeout...
 * ```
 */
export function connOptionsOf(options: ConnOptions): ConnOptions {
  const kept: Record<string, unknown> = {};
  for (const key of CONN_OPTION_KEYS) kept[key] = options[key];
  return kept as ConnOptions;
}
