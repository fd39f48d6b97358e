/**
 * The connect and listen chains every adapter shares, written once: check the
 * options, race the attempt against `timeout` and `signal`, map the runtime's
 * error, run TLS when asked, and build the `Conn` / `Listener` with the
 * options' `ConnOptions`. An adapter supplies only its runtime's verbs (open a
 * socket, bind a server, translate a socket into a `ConnSource`) and, for TLS,
 * the engine hooks: a TLS engine is not runtime-neutral, so the core never
 * imports one.
 *
 * @module
 */
import { createConn, inheritedConnOptions, nativeOf, readPending, recordHandshake, recordUpgrade, unwrapForUpgrade } from "./conn.ts";
import { withDeadline } from "./deadline.ts";
import { SocketError, TimedOutError, TlsHandshakeError } from "./errors.ts";
import {
  checkConnectOptions,
  checkListenOptions,
  type ConnectOptions,
  connOptionsOf,
  type Endpoint,
  type ListenOptions,
} from "./endpoint-options.ts";
import { createListener } from "./listener.ts";
import type { ConnSource, ListenerSink, ListenerSource } from "./source.ts";
import type { ResolvedTlsOptions } from "./tls-options.ts";
import { toSocketError } from "./to-socket-error.ts";
import { CONN_OPTION_KEYS } from "./options.ts";
import type { Addr, Conn, ConnOptions, Listener } from "./types.ts";

/**
 * How an adapter runs TLS over its own TCP source (hangup's Node, Deno and Bun adapters pass
 * their TLS engine here, from adapters/node-tls.ts). Absent: the adapter refuses the `tls` option with a TypeError.
 *
 * @example
 * ```ts
 * const tlsHooks: TlsHooks = {
 *   client: (tcp, serverName, options, signal) => myClientTls(tcp, serverName, options, signal),
 *   server(options) {
 *     const context = myContext(options); // throws a TypeError naming `tls.cert` / `tls.key`
 *     return (sink, tcp) => myServerTls(tcp, context, options).then((tls) => sink.connection(tls), () => {});
 *   },
 * };
 * ```
 */
export interface TlsHooks {
  /** A TLS source over `tcp`, handshake done; rejects with `TlsHandshakeError` or `signal.reason`, releasing `tcp`. */
  client(tcp: ConnSource, serverName: string, options: ResolvedTlsOptions, signal: AbortSignal | undefined): Promise<ConnSource>;
  /** Checks a client's certificate, key and CAs before anything connects (a TypeError naming them). */
  checkClient?(options: ResolvedTlsOptions): void;
  /**
   * Checks the server's certificate and key before anything is bound (a TypeError naming them),
   * and returns how each accepted connection is handed to `sink` once its handshake completed.
   * `closed` aborts when the listener closes: a handshake still running then drops its connection.
   */
  server(options: ResolvedTlsOptions): (sink: ListenerSink, tcp: ConnSource, closed: AbortSignal) => void;
}

/**
 * An adapter's side of `connectWith`.
 *
 * @example
 * ```ts
 * const steps: ConnectSteps<MySocket, MySocket> = {
 *   open: (endpoint, cancelled) => mySocketConnect(endpoint, { signal: cancelled }),
 *   discard: (late) => late.close(),
 *   toSource: (socket, endpoint) => new MySource(socket, endpoint),
 * };
 * ```
 */
export interface ConnectSteps<Socket, Native = Socket> {
  /**
   * Starts connecting to `endpoint`; resolves with the connected socket, rejects with the runtime's
   * error (mapped with `toSocketError(err, "connect")` here). `cancelled` aborts when the attempt is
   * given up (timeout or the user's signal): stop it there if the runtime can.
   */
  open(endpoint: Endpoint, cancelled: AbortSignal): Promise<Socket>;
  /** Releases a socket that connected after the attempt was given up. */
  discard(late: Socket): void;
  /** The connected socket as a source. */
  toSource(socket: Socket, endpoint: Endpoint): ConnSource<Native>;
  /** TLS from the first byte (`connect({ tls })`). */
  tls?: TlsHooks | undefined;
}

/**
 * An adapter's side of `listenWith`.
 *
 * @example
 * ```ts
 * const steps: ListenSteps<MySocket> = {
 *   bind: (endpoint, backlog) => {
 *     const server = myListen(endpoint, backlog); // throws the runtime's error, mapped here
 *     return {
 *       addr: server.addr,
 *       start: (sink) => server.onConnection((socket) => sink.connection(new MySource(socket))),
 *       close: () => server.close(),
 *     };
 *   },
 * };
 * ```
 */
export interface ListenSteps<Native> {
  /**
   * Binds `endpoint` and returns the listening source. Throws or rejects with the runtime's
   * error (mapped with `toSocketError(err, "listen")` here). Each connection its `start` reports
   * is plaintext: with `tls`, the kit runs the handshake before the listener sees it.
   */
  bind(endpoint: Endpoint, backlog: number | undefined): ListenerSource<Addr, Native> | Promise<ListenerSource<Addr, Native>>;
  /** Accepting TLS (`listen({ tls })`). */
  tls?: TlsHooks | undefined;
}

/**
 * A connect, listen or upgrade failure as the caller gets it: the message says where ("Cannot
 * connect to db.internal:5432: connection refused", "Cannot listen on 0.0.0.0:80: permission
 * denied", "Cannot start TLS with 10.0.0.5:5432: the TLS handshake failed: …"), and
 * the stack is the caller's, not that of the timer or runtime callback that made the error (the
 * runtime's own error stays as `cause`, stack and all). Anything but a `SocketError` (a TypeError)
 * is returned as it is, and so is the reason of `signal` (the operation's), the caller's own object
 * even when it is a `SocketError`.
 *
 * @example
 * ```ts
 * let socket: MySocket;
 * try {
 *   socket = await mySocketConnect(endpoint, { signal });
 * } catch (err) {
 *   throw locateFailure(toSocketError(err, "connect"), "connect", endpoint, signal);
 * }
 * ```
 */
export function locateFailure(
  err: unknown,
  operation: keyof typeof PREPOSITIONS,
  endpoint: Endpoint,
  signal?: AbortSignal,
): unknown {
  if (!(err instanceof SocketError) || (signal?.aborted && err === signal.reason)) return err;
  const prefix = `Cannot ${operation}: `;
  if (err.message.startsWith(prefix)) {
    const where = endpoint.transport === "unix"
      ? endpoint.path || "an unnamed Unix socket"
      : `${endpoint.hostname.includes(":") ? `[${endpoint.hostname}]` : endpoint.hostname}:${endpoint.port}`;
    err.message = `Cannot ${operation} ${PREPOSITIONS[operation]} ${where}: ${err.message.slice(prefix.length)}`;
  }
  (Error as { captureStackTrace?: (target: object, below?: (...args: never[]) => unknown) => void }).captureStackTrace?.(
    err,
    locateFailure,
  );
  return err;
}

/** How each failure names its place: "Cannot connect to …", "Cannot accept from …" (a server's upgrade). */
const PREPOSITIONS = { connect: "to", listen: "on", "start TLS": "with", accept: "from" } as const;

function refuseTls(): never {
  throw new TypeError("tls is not supported by this adapter");
}

/**
 * `connect(options)` for an adapter: checks `options` (TypeError/RangeError naming the option),
 * runs `steps.open` against `timeout` (`TimedOutError`) and `signal` (its reason), maps the
 * runtime's error with `toSocketError`, runs the TLS handshake when `tls` is set, and returns the
 * `Conn` with the options' `ConnOptions`.
 *
 * @example
 * ```ts
 * import { connectWith } from "hangup/core";
 * export function connect(options: ConnectOptions): Promise<Conn<MySocket>> {
 *   return connectWith(options, {
 *     open: (endpoint, cancelled) => mySocketConnect(endpoint, { signal: cancelled }),
 *     discard: (s) => s.close(),
 *     toSource: (s) => new MySource(s),
 *   });
 * }
 * ```
 */
export async function connectWith<Socket, Native>(options: ConnectOptions, steps: ConnectSteps<Socket, Native>): Promise<Conn<Native>> {
  const { endpoint, timeout, tls, options: o } = checkConnectOptions(options);
  if (tls && !steps.tls) refuseTls();
  if (tls) steps.tls!.checkClient?.(tls);
  // Before dialing: an attempt started and then dropped still reaches the server (Deno, Bun).
  if (o.signal?.aborted) throw o.signal.reason;
  try {
    return await dial(endpoint, timeout, tls, o, steps);
  } catch (err) {
    throw locateFailure(err, "connect", endpoint, o.signal);
  }
}

async function dial<Socket, Native>(
  endpoint: Endpoint,
  timeout: number,
  tls: ResolvedTlsOptions | undefined,
  o: ConnectOptions,
  steps: ConnectSteps<Socket, Native>,
): Promise<Conn<Native>> {
  const started = Date.now();
  const cancelled = new AbortController();
  let attempt: Promise<Socket>;
  try {
    attempt = steps.open(endpoint, cancelled.signal).catch((err: unknown) => Promise.reject(toSocketError(err, "connect")));
  } catch (err) {
    throw toSocketError(err, "connect");
  }
  const socket = await withDeadline(attempt, {
    timeout,
    signal: o.signal,
    cancel: () => cancelled.abort(),
    discard: steps.discard,
  });
  const tcp = steps.toSource(socket, endpoint);
  if (!tls) {
    const conn = createConn(tcp, connOptionsOf(o));
    if (endpoint.transport === "tcp") connectedNames.set(conn, endpoint.hostname);
    return conn;
  }
  const serverName = tls.serverName ?? (endpoint.transport === "tcp" ? endpoint.hostname : "localhost");
  // Its `native`, which unwrap() hands out, is the TLS layer's socket, not Native: the adapter's
  // connect() types it (the TLS socket of hangup's own adapters).
  if (timeout === 0) return createConn(await steps.tls!.client(tcp, serverName, tls, o.signal), connOptionsOf(o)) as Conn<Native>;
  // `timeout` is the whole connect's, handshake included: what is left of it bounds the handshake
  // too (besides handshakeTimeout), with the same TimedOutError.
  const handshake = new AbortController();
  const source = await withDeadline(steps.tls!.client(tcp, serverName, tls, handshake.signal), {
    timeout: Math.max(1, timeout - (Date.now() - started)),
    signal: o.signal,
    cancel: () => handshake.abort(),
    discard: (late) => late.destroy(),
    timedOut: () => new TimedOutError(`Cannot connect: timed out after ${timeout} ms`),
  });
  return createConn(source, connOptionsOf(o)) as Conn<Native>;
}

/**
 * The ConnOptions of the connection `startTls` makes from `conn`: `conn`'s (its write timeout as
 * it stands, serve()'s default included), overridden by those `options` give. A connection does
 * not lose its idle timeout, write timeout, heartbeat or signal by being upgraded.
 *
 * @example
 * ```ts
 * const connOptions = upgradeConnOptions(conn, options); // conn's idleTimeout unless options has one
 * ```
 */
export function upgradeConnOptions(conn: Conn, options: ConnOptions): ConnOptions {
  const inherited = inheritedConnOptions(conn) as Record<string, unknown>;
  const given = options as Record<string, unknown>;
  const merged: Record<string, unknown> = {};
  for (const key of CONN_OPTION_KEYS) merged[key] = given[key] !== undefined ? given[key] : inherited[key];
  return merged as ConnOptions;
}

export { recordHandshake, recordUpgrade };

/** The host name each plaintext connection was opened to, which `remoteAddr` (numeric) does not keep. */
const connectedNames = new WeakMap<Conn, string>();

/**
 * The name a later `startTls` checks the peer's certificate against (and sends as SNI) when it
 * is given no `serverName`: the hostname `conn` was connected to, as for `connect({ tls })`; for a
 * connection that was not made by `connect` (accepted, wrapped), its numeric peer address.
 *
 * @example
 * ```ts
 * const serverName = tls.serverName ?? defaultServerName(conn);
 * ```
 */
export function defaultServerName(conn: Conn): string {
  const remote = conn.remoteAddr;
  return connectedNames.get(conn) ?? (remote.transport === "tcp" ? remote.hostname : "localhost");
}

/**
 * `listen(options)` for an adapter: checks `options` (and the TLS certificate, before binding),
 * runs `steps.bind`, maps its error with `toSocketError`, puts each accepted connection through
 * the TLS handshake when `tls` is set, and returns the `Listener` whose connections get the
 * options' `ConnOptions`.
 *
 * @example
 * ```ts
 * import { listenWith } from "hangup/core";
 * export function listen(options?: ListenOptions): Promise<Listener<Addr, MySocket>> {
 *   return listenWith(options, { bind: (endpoint) => myBind(endpoint) });
 * }
 * ```
 */
export async function listenWith<Native>(options: ListenOptions | undefined, steps: ListenSteps<Native>): Promise<Listener<Addr, Native>> {
  const { endpoint, backlog, tls, options: o } = checkListenOptions(options);
  if (tls && !steps.tls) refuseTls();
  const accept = tls && steps.tls!.server(tls);
  let bound: ListenerSource<Addr, Native>;
  try {
    bound = await steps.bind(endpoint, backlog);
  } catch (err) {
    throw locateFailure(toSocketError(err, "listen"), "listen", endpoint);
  }
  if (!accept) return createListener(bound, connOptionsOf(o));
  // Closing the listener ends the handshakes still running too: their sockets are not kept open.
  const closing = new AbortController();
  return createListener({
    addr: bound.addr,
    start: (sink) => bound.start({ connection: (tcp) => accept(sink as ListenerSink, tcp, closing.signal) }),
    pause: bound.pause && (() => bound.pause!()),
    resume: bound.resume && (() => bound.resume!()),
    setRef: bound.setRef && ((referenced) => bound.setRef!(referenced)),
    close: () => {
      closing.abort();
      return bound.close();
    },
  }, connOptionsOf(o));
}

/**
 * Waits until the writes `conn` was given have gone out, before `startTls` unwraps it (which
 * refuses writes not yet handed to the socket): a command written without awaiting right before
 * the upgrade ("STARTTLS\r\n") goes first. The wait counts as handshake time: it rejects with
 * `TlsHandshakeError` after `timeout` ms (0: never), or with `signal.reason`. A write that fails
 * ends the wait: the handshake then meets the failure. With a read pending on `conn` it rejects at
 * once with a `TypeError`, and `conn` is left as it was (the upgrade would take it from under the read).
 *
 * @example
 * ```ts
 * await flushBeforeUpgrade(conn, tls.handshakeTimeout, signal);
 * const { buffered, native } = conn.unwrap();
 * ```
 */
export function flushBeforeUpgrade(conn: Conn, timeout: number, signal: AbortSignal | undefined): Promise<void> {
  if (readPending(conn)) {
    return Promise.reject(new TypeError("Cannot start TLS while a read is pending on this connection; await it first"));
  }
  return withDeadline(conn.write(new Uint8Array(0)).catch(() => {}), {
    timeout,
    signal,
    // Nothing to stop or release: the writes stay the caller's, and so does conn.
    cancel: () => {},
    discard: () => {},
    timedOut: () => new TlsHandshakeError(`Cannot start TLS: the writes before startTls() did not go out within ${timeout} ms`),
  });
}

/**
 * Refuses, with a `TypeError` and before anything is consumed, a `conn` that `startTls()` cannot
 * upgrade: not a hangup `Conn`, one already over TLS, or one whose socket `own` does not accept
 * (`refuse` makes that error, naming what the adapter takes).
 *
 * @example
 * ```ts
 * const own = (native: unknown): native is MySocket => native === socket;
 * const refuse = () => new TypeError("conn must be a plaintext hangup Conn over a MySocket");
 * checkUpgradable(conn, own, refuse);
 * ```
 */
export function checkUpgradable(conn: Conn, own: (native: unknown) => boolean, refuse: () => TypeError): void {
  if (typeof conn !== "object" || conn === null || typeof (conn as Partial<Conn>).unwrap !== "function") {
    throw new TypeError("conn must be a hangup Conn");
  }
  if (conn.tls !== undefined) throw new TypeError("conn already speaks TLS");
  if (!own(nativeOf(conn))) throw refuse();
}

/**
 * Takes a `conn` that `checkUpgradable` accepted over for `startTls()`: its earlier writes go out
 * first (`flushBeforeUpgrade`, with its `timeout` and `signal`), then it is unwrapped, its later
 * operations saying it was handed to `startTls()`. Resolves with the bytes it had read ahead and
 * its socket, which `own` checks again (`refuse` if it is not the one checked before).
 *
 * @example
 * ```ts
 * const own = (native: unknown): native is MySocket => native === socket;
 * const refuse = () => new TypeError("conn must be a plaintext hangup Conn over a MySocket");
 * const { buffered, native } = await takeForUpgrade(conn, own, refuse, 10_000, undefined);
 * ```
 */
export async function takeForUpgrade<Native>(
  conn: Conn,
  own: (native: unknown) => native is Native,
  refuse: () => TypeError,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<{ buffered: Uint8Array<ArrayBuffer>; native: Native }> {
  await flushBeforeUpgrade(conn, timeout, signal);
  const { buffered, native } = unwrapForUpgrade(conn);
  if (!own(native)) throw refuse();
  return { buffered, native };
}
