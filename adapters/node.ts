/**
 * hangup on Node (`node:net`): a translation of `net.Socket` events into the
 * core's `ConnSource` contract; the connect and listen chains are the core's
 * (`connectWith`, `listenWith`). Every policy lives in `hangup/core`.
 *
 * Node's quirks, handled here:
 * - Node 20 and 22 can report a peer's RST as a clean `'end'` (the false EOF):
 *   a zero-length write confirms each end (`confirmEnd`);
 * - `allowHalfOpen` must be set, or the peer's FIN ends our write side too;
 * - an `'error'` with no listener crashes the process: one stays after `unwrap()`;
 * - a write callback after `destroy()` has no error on Node 20, ECANCELED on 22+;
 * - `reset()` is `resetAndDestroy()` (RST); a Unix socket has none, so it is a
 *   `destroy()`; `destroy()` closes without RST, `close()` is `end()` then `destroy()`;
 * - `server.close()`'s callback waits for every connection, so the listener's
 *   close resolves once the handle is closed instead.
 *
 * @example
 * ```ts
 * import { listen, serve } from "hangup/node";
 * const listener = await listen({ port: 7000 });
 * await serve(listener, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * ```
 *
 * @module
 */
import * as net from "node:net";
import type { TLSSocket } from "node:tls";
import process from "node:process";
import {
  type Addr,
  type Capabilities,
  claim,
  type Conn,
  type ConnectOptions,
  connectWith,
  type ConnOptions,
  type ConnSink,
  type ConnSource,
  createConn,
  defineCapabilities,
  type Endpoint,
  type Listener,
  type ListenerSource,
  type ListenOptions,
  listenWith,
  release,
  type Runtime,
  type ServerTlsOptions,
  type TcpAddr,
  tcpAddr,
  type TcpListenOptions,
  type TlsOptions,
  type UnixAddr,
  type UnixListenOptions,
} from "../src/index.ts";

import { nodeTlsHooks, type StartTlsOptions, upgradeToTls } from "./node-tls.ts";
import { checkUnixPath, unixBindError } from "./unix-path.ts";
import { refuseNodeTlsSocket } from "./wrap-tls.ts";

const SETTLED: Promise<void> = Promise.resolve();

export type { StartTlsOptions } from "./node-tls.ts";

export * from "../src/public.ts";

/**
 * Which adapter this entry is.
 *
 * @example
 * ```ts
 * import { runtime } from "hangup";
 * console.log(runtime); // "node" when this adapter was picked
 * if (runtime === "deno") console.log("typed as the union of the four names: portable code compiles");
 * ```
 */
export const runtime: Runtime = "node";

/**
 * What Node can do (README: "What each runtime can and cannot do"). `falseEof`: Node 24
 * dropped the shortcut behind the false EOF (docs/runtimes.md: 30/30 resets reported).
 *
 * @example
 * ```ts
 * import { capabilities } from "hangup/node";
 * console.log(capabilities.reset); // true: reset() sends an RST
 * ```
 */
export const capabilities: Readonly<Capabilities> = defineCapabilities({
  reset: true,
  halfClose: true,
  keepAlive: true,
  keepAliveDelay: true,
  noDelay: true,
  serverStartTls: true,
  tlsTruncation: true,
  falseEof: Number(process.versions.node.split(".")[0]) < 24,
  listen: true,
  unixSockets: true,
  wrap: true,
});

const EMPTY = new Uint8Array(0);
const FALSE_EOF_POSSIBLE = capabilities.falseEof;

/**
 * Node 20 and 22 can report a peer's RST as a clean `'end'` (libuv's POLLHUP
 * short-read shortcut leaves the socket error pending in the kernel). A
 * zero-length write reads that pending error without putting a byte on the
 * wire: it fails with ECONNRESET after a reset and succeeds after a FIN.
 */
function confirmEnd(socket: net.Socket, sink: ConnSink): void {
  if (!FALSE_EOF_POSSIBLE) {
    sink.end();
    return;
  }
  if (!socket.writable || socket.writableEnded) {
    // Our write side is shut: no probe can be sent. See docs/runtimes.md ("Node's false EOF").
    sink.end();
    return;
  }
  if (socket.writableLength > 0) {
    // Our writes wait for a peer that does not read: a probe would wait behind them (a FIN
    // unreported until the peer reads). No probe is needed: libuv tries the waiting write in the
    // same poll as the shortcut's EOF, so a reset has failed it, and errored the socket, by the
    // next turn.
    setImmediate(() => {
      if (!socket.errored && !socket.destroyed) sink.end();
    });
    return;
  }
  // Only ECONNRESET means a false EOF. EPIPE is the kernel's answer to an RST that came after the
  // peer's FIN (a reply to our writes to a closed peer): the read side did end with a FIN (SPEC 2).
  socket.write(EMPTY, (err) => (err && (err as NodeJS.ErrnoException).code === "ECONNRESET" ? sink.error(err) : sink.end()));
}

/** The listener an unwrapped socket keeps until its new owner handles its errors. */
const ignoreError = (): void => {};

/** Each socket's source, found from `this` in the shared handlers; nothing is set on the user's socket. */
const sources = new WeakMap<net.Socket, NodeSource>();

/**
 * One `net.Socket`, translated. A class, so that the contract's methods live on the
 * prototype: an idle connection then costs a few bytes here, not a closure per method.
 */
class NodeSource implements ConnSource<net.Socket> {
  readonly native: net.Socket;
  #sink: ConnSink | undefined;
  #earlyError: unknown;
  /** A Unix socket's two ends: the path on the listener's end, "" on the connecting end (unnamed). */
  readonly #unixPaths: { local: string; remote: string } | undefined;
  #localAddr: Addr | undefined;
  #remoteAddr: Addr | undefined;

  constructor(socket: net.Socket, unixPaths: { local: string; remote: string } | undefined) {
    this.native = socket;
    this.#unixPaths = unixPaths;
    // Node caches the addresses once asked, and still reports them after the socket closed;
    // the Addr objects are made only if someone reads them.
    if (unixPaths === undefined) void (socket.localAddress, socket.remoteAddress);
    claim(socket);
    // A socket taken over after it failed (an RST while it was handed over): that is its news.
    if (socket.errored) this.#earlyError = socket.errored;
    sources.set(socket, this);
    socket.on("error", NodeSource.#onError);
    socket.on("close", NodeSource.#onClose);
  }

  // Shared by every socket: Node calls a listener with the socket as `this`, which leads back
  // to its source. Four closures per connection would cost more than the socket's 'data' handler.
  static #onData(this: net.Socket, chunk: Buffer): void {
    sources.get(this)!.#sink!.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  static #onEnd(this: net.Socket): void {
    confirmEnd(this, sources.get(this)!.#sink!);
  }

  static #onError(this: net.Socket, err: unknown): void {
    const source = sources.get(this)!;
    if (source.#sink) source.#sink.error(err);
    else source.#earlyError ??= err;
  }

  static #onClose(this: net.Socket): void {
    sources.get(this)!.#sink?.closed();
  }

  get localAddr(): Addr {
    return (this.#localAddr ??= this.#unixPaths
      ? { transport: "unix", path: this.#unixPaths.local }
      : tcpAddr(this.native.localAddress, this.native.localPort));
  }

  get remoteAddr(): Addr {
    return (this.#remoteAddr ??= this.#unixPaths
      ? { transport: "unix", path: this.#unixPaths.remote }
      : tcpAddr(this.native.remoteAddress, this.native.remotePort));
  }

  start(sink: ConnSink): void {
    const socket = this.native;
    this.#sink = sink;
    socket.on("data", NodeSource.#onData);
    socket.on("end", NodeSource.#onEnd);
    // A socket taken over after its 'end' (Node emits it once).
    if (socket.readableEnded) NodeSource.#onEnd.call(socket);
    if (this.#earlyError !== undefined) sink.error(this.#earlyError);
    // A socket closed before `start` (reset while queued) reports `closed` now; a repeat is ignored.
    if (socket.destroyed) sink.closed();
    else socket.resume();
  }

  pause(): void {
    this.native.pause();
  }

  resume(): void {
    this.native.resume();
  }

  write(bytes: Uint8Array): Promise<void> {
    const socket = this.native;
    let settle: ((err: Error | null | undefined) => void) | undefined;
    let early: { err: Error | null | undefined } | undefined;
    socket.write(bytes, (err) => (settle ? settle(err) : (early = { err })));
    // Handed to the kernel at once (nothing left in Node's buffer): all the callback would say, a
    // tick and a promise later. A pipelining server writes thousands of replies a second.
    // Not when the send failed on the spot (Node then sets `errored` and calls back a tick later).
    if (
      early === undefined && socket.writableLength === 0 && !socket.errored && !socket.destroyed && !socket.writableEnded &&
      !socket.connecting
    ) return SETTLED;
    return new Promise<void>((resolve, reject) => {
      settle = (err) => {
        // Node 20 calls back without an error once the socket is destroyed, Node 22+ with ECANCELED:
        // either way the bytes did not go, and the error that destroyed the socket says why.
        if (!err && !socket.destroyed) resolve();
        else reject(socket.errored ?? err ?? destroyedError());
      };
      if (early) settle(early.err);
    });
  }

  closeWrite(): Promise<void> {
    const socket = this.native;
    // end()'s callback gets the error when the socket fails before its FIN went: then none did. On a
    // socket already destroyed, Node 20 never calls it back: that is refused here, and a socket
    // destroyed while its end waits rejects too.
    const shut = (resolve: () => void, reject: (err: unknown) => void): void => {
      if (socket.destroyed) return reject(socket.errored ?? destroyedError());
      const onClose = (): void => reject(socket.errored ?? destroyedError());
      socket.once("close", onClose);
      socket.end((err?: Error | null) => {
        socket.off("close", onClose);
        if (err) reject(err);
        else resolve();
      });
    };
    if (!FALSE_EOF_POSSIBLE || !socket.writable) return new Promise<void>(shut);
    // The last chance to read a reset the kernel holds (see confirmEnd): once our side is shut,
    // Node 20 and 22 report it as a clean 'end'. Found, it is the reset, and no FIN can go.
    return new Promise<void>((resolve, reject) => {
      socket.write(EMPTY, (err) => {
        if (err && (err as NodeJS.ErrnoException).code === "ECONNRESET") {
          this.#sink?.error(err);
          return reject(err);
        }
        shut(resolve, reject);
      });
    });
  }

  close(): Promise<void> {
    const socket = this.native;
    return new Promise<void>((resolve) => {
      if (socket.destroyed) return resolve();
      socket.once("close", () => resolve());
      socket.end(() => socket.destroy());
    });
  }

  destroy(): void {
    this.native.destroy();
  }

  linger(): void {
    // Nothing to do: the socket reads on and, as any open socket, keeps the process alive meanwhile
    // (2 s at most, the core's bound), so a script ending right after close() loses no byte.
  }

  reset(): void {
    // resetAndDestroy() sends RST on TCP; a Unix socket has no RST, so it is closed.
    const socket = this.native;
    if (socket.destroyed) return;
    // While our FIN is on its way (end() called, its shutdown not finished) Node cannot reset:
    // resetAndDestroy() fails with EINVAL and never closes the handle, which then holds the
    // process forever. Closed instead: the FIN goes, and the kernel sends an RST for unread bytes.
    if (socket.writableEnded && !socket.writableFinished) return void socket.destroy();
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }

  detach(): void {
    const socket = this.native;
    socket.pause();
    socket.off("data", NodeSource.#onData);
    socket.off("end", NodeSource.#onEnd);
    socket.off("close", NodeSource.#onClose);
    socket.off("error", NodeSource.#onError);
    sources.delete(socket);
    release(socket);
    // An 'error' with no listener would crash the process before the new owner listens: one
    // shared no-op, added once however often the socket is handed over.
    if (!socket.listeners("error").includes(ignoreError)) socket.on("error", ignoreError);
  }

  setKeepAlive(delay: number | false): void {
    if (delay === false) this.native.setKeepAlive(false);
    else this.native.setKeepAlive(true, delay);
  }

  setNoDelay(noDelay: boolean): void {
    this.native.setNoDelay(noDelay);
  }

  setRef(referenced: boolean): void {
    // A write going out holds the process either way: libuv counts its request as alive.
    if (referenced) this.native.ref();
    else this.native.unref();
  }
}

/** What a write or FIN on a socket destroyed without an error of its own rejects with. */
function destroyedError(): Error {
  return Object.assign(new Error("Cannot write: the socket was destroyed"), { code: "ERR_STREAM_DESTROYED" });
}

/** A connected socket's source; `endpoint` is what it connected to, or (`accepted`) listens on. */
function nodeSource(socket: net.Socket, endpoint?: Endpoint, accepted = false): ConnSource<net.Socket> {
  if (endpoint?.transport !== "unix") return new NodeSource(socket, undefined);
  return new NodeSource(socket, accepted ? { local: endpoint.path, remote: "" } : { local: "", remote: endpoint.path });
}

/**
 * Connects over TCP (`hostname`, default `127.0.0.1`, and `port`) or a Unix socket (`path`).
 *
 * Rejects with `ConnectionRefusedError`, `TimedOutError` (after `timeout` ms), a
 * `SocketError` with the OS code (`ENOTFOUND`, `EACCES`, ...), `signal.reason`,
 * or a TypeError/RangeError for bad options.
 *
 * @example
 * ```ts
 * import { connect } from "hangup/node";
 * const conn = await connect({ port: 7000, timeout: 5000 });
 * await conn.write("hello\n");
 * console.log(await conn.readUntil("\n"));
 * await conn.close();
 * ```
 */
export function connect(options: ConnectOptions & { tls: true | TlsOptions }): Promise<Conn<TLSSocket>>;
export function connect(options: ConnectOptions & { tls?: undefined }): Promise<Conn<net.Socket>>;
export function connect(options: ConnectOptions): Promise<Conn<net.Socket | TLSSocket>>;
export function connect(options: ConnectOptions): Promise<Conn<net.Socket | TLSSocket>> {
  return connectWith(options, {
    open(endpoint, cancelled) {
      if (endpoint.transport === "unix") checkUnixPath(endpoint.path);
      const socket = endpoint.transport === "unix"
        ? net.connect({ path: endpoint.path, allowHalfOpen: true })
        : net.connect({ host: endpoint.hostname, port: endpoint.port, allowHalfOpen: true });
      cancelled.addEventListener("abort", () => {
        socket.on("error", () => {});
        socket.destroy();
      }, { once: true });
      return new Promise<net.Socket>((resolve, reject) => {
        const onError = (err: unknown): void => {
          socket.off("connect", onConnect);
          reject(err);
        };
        const onConnect = (): void => {
          socket.off("error", onError);
          resolve(socket);
        };
        socket.once("error", onError);
        socket.once("connect", onConnect);
      });
    },
    discard: (late) => late.destroy(),
    toSource: nodeSource,
    tls: nodeTlsHooks,
  });
}

/**
 * Listens on TCP (`hostname`, default `0.0.0.0`, and `port`, 0 or absent for an
 * ephemeral one reported by `listener.addr`) or a Unix socket (`path`).
 * ConnOptions apply to every accepted connection.
 *
 * @example
 * ```ts
 * import { listen } from "hangup/node";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0, idleTimeout: 60_000 });
 * console.log(listener.addr);
 * for await (const conn of listener) void conn.close();
 * ```
 */
export function listen(options: UnixListenOptions & { tls: ServerTlsOptions }): Promise<Listener<UnixAddr, TLSSocket>>;
export function listen(options: UnixListenOptions & { tls?: undefined }): Promise<Listener<UnixAddr, net.Socket>>;
export function listen(options: UnixListenOptions): Promise<Listener<UnixAddr, net.Socket | TLSSocket>>;
export function listen(options: TcpListenOptions & { tls: ServerTlsOptions }): Promise<Listener<TcpAddr, TLSSocket>>;
export function listen(options?: TcpListenOptions & { tls?: undefined }): Promise<Listener<TcpAddr, net.Socket>>;
export function listen(options?: TcpListenOptions): Promise<Listener<TcpAddr, net.Socket | TLSSocket>>;
export function listen(options?: ListenOptions): Promise<Listener<Addr, net.Socket | TLSSocket>>;
export function listen(options?: ListenOptions): Promise<Listener<Addr, net.Socket | TLSSocket>> {
  return listenWith(options, { bind: bindNode, tls: nodeTlsHooks });
}

async function bindNode(endpoint: Endpoint, backlog: number | undefined): Promise<ListenerSource<Addr, net.Socket>> {
  if (endpoint.transport === "unix") checkUnixPath(endpoint.path);
  // pauseOnConnect: nothing is read from a connection until the application accepts it.
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(endpoint.transport === "unix" ? unixBindError(err, endpoint.path) : err));
    const listenOptions = endpoint.transport === "unix"
      ? { path: endpoint.path, backlog }
      : { host: endpoint.hostname, port: endpoint.port, backlog };
    server.listen(listenOptions, () => resolve());
  });
  server.removeAllListeners("error");
  // Accept failures (EMFILE, ECONNABORTED) are transient: the server keeps listening.
  server.on("error", () => {});

  const bound = server.address();
  const addr: Addr = endpoint.transport === "unix" || bound === null || typeof bound === "string"
    ? { transport: "unix", path: endpoint.transport === "unix" ? endpoint.path : String(bound) }
    : tcpAddr(bound.address, bound.port);

  return {
    addr,
    start(sink) {
      server.on("connection", (socket: net.Socket) => sink.connection(nodeSource(socket, endpoint, true)));
    },
    setRef: (referenced) => void (referenced ? server.ref() : server.unref()),
    close: () =>
      new Promise<void>((resolve) => {
        // server.close()'s callback waits for every connection; the address is free as soon as the handle closes.
        if (server.listening) server.close();
        setImmediate(resolve);
      }),
  };
}

/**
 * A `Conn` over a connected `net.Socket` you already have. hangup sets
 * `allowHalfOpen` on it so the peer's FIN does not end our write side.
 * Throws a `TypeError` if another `Conn` still reads from the socket
 * (two readers would split its bytes); `unwrap()` that one first. A
 * `tls.TLSSocket` is refused too (`TypeError`): hangup would not see its
 * close_notify, so a truncation would look like a clean end. Wrap the
 * plaintext socket and `startTls()` it, or use `connect({ tls })`.
 *
 * @example
 * ```ts
 * import * as net from "node:net";
 * import { wrap } from "hangup/node";
 * const socket = net.connect({ port: 7000, allowHalfOpen: true });
 * socket.once("connect", () => {
 *   const conn = wrap(socket, { idleTimeout: 10_000 });
 * });
 * ```
 */
export function wrap(native: net.Socket, options?: ConnOptions): Conn<net.Socket> {
  if (!(native instanceof net.Socket)) throw new TypeError("native must be a connected net.Socket");
  refuseNodeTlsSocket(native);
  const source = nodeSource(native);
  (native as net.Socket & { allowHalfOpen: boolean }).allowHalfOpen = true;
  return createConn(source, options);
}

/**
 * Upgrades a plaintext `Conn` to TLS (SMTP/IMAP `STARTTLS`, a Postgres `SSLRequest`), as
 * client (default) or server (`side: "server"`, with `cert` and `key`). `conn` is consumed
 * (its later operations throw `SocketClosedError`); the bytes it had read ahead, such as a
 * ClientHello pipelined behind `STARTTLS\r\n`, go to the TLS layer. Rejects with
 * `TlsHandshakeError` if the handshake fails or `handshakeTimeout` passes. The new connection keeps `conn`'s options
 * (`idleTimeout`, `writeTimeout`, `serve()`'s default included, `heartbeat`, `signal`, ...)
 * unless `options` set them, and under `serve()` it is closed when the handler settles.
 * `conn` must be a plaintext `Conn` of this adapter (from its `connect`, `listen` or `wrap`);
 * another, such as one from `fromStreams`, is refused with a `TypeError`.
 *
 * @example
 * ```ts
 * import { connect, startTls } from "hangup/node";
 * const plain = await connect({ hostname: "mail.example", port: 587 });
 * await plain.readUntil("\r\n");
 * await plain.write("STARTTLS\r\n");
 * await plain.readUntil("\r\n");
 * const conn = await startTls(plain, { serverName: "mail.example" });
 * ```
 */
export function startTls(conn: Conn, options?: StartTlsOptions): Promise<Conn<TLSSocket>> {
  return upgradeToTls(
    conn,
    options,
    { is: (native): native is net.Socket => native instanceof net.Socket, name: "net.Socket" },
    (native, remote) => {
      if (remote.transport === "tcp") return nodeSource(native);
      const local = conn.localAddr as Addr & { transport: "unix" };
      return new NodeSource(native, { local: local.path, remote: remote.path });
    },
  );
}
