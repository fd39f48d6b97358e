/**
 * hangup on Bun: a translation of `Bun.connect` / `Bun.listen` socket handlers
 * into the core's `ConnSource` contract. Every policy lives in `hangup/core`.
 *
 * The connect and listen chains are the core's (`connectWith`, `listenWith`).
 *
 * Bun's own traps, translated here: errors arrive only as `close`'s second
 * argument; `end()` closes both directions (half-close is `shutdown()`), so
 * `destroy()` is a graceful `end()` like `close()` (Bun has no close that is
 * neither graceful nor an RST) and `reset()` is `terminate()` (RST); after
 * our `shutdown()` the peer's FIN shows up as `close` with no `end`; a write on
 * a dead socket returns -1; `drain` fires stray; `end()` and `terminate()` call
 * `close` re-entrantly; a `connect` that fails for want of descriptors is
 * reported as ECONNREFUSED, a `listen` with no code (`outOfDescriptors`); `Bun.connect` cannot be
 * cancelled; `backlog` is not settable; `socket.reload()` on a socket that
 * `Bun.listen` accepted replaces the handlers of every socket of that listener,
 * so hangup's handlers dispatch to `socket.data` (`SocketOwner`) and never reload
 * a socket of theirs: an unwrapped socket is taken over by setting its `data`.
 *
 * @example
 * ```ts
 * import { listen, serve } from "hangup/bun";
 * const listener = await listen({ port: 7000 });
 * await serve(listener, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * ```
 *
 * @module
 */
import type { Socket, SocketHandler } from "bun";
import { lookup } from "node:dns/promises";
import { closeSync, openSync } from "node:fs";
import { isIP } from "node:net";
import type { TLSSocket } from "node:tls";
import { devNull } from "node:os";
import {
  type Addr,
  type Capabilities,
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
  type ListenerSink,
  type ListenerSource,
  type ListenOptions,
  listenWith,
  type Runtime,
  type ServerTlsOptions,
  type TcpAddr,
  tcpAddr,
  type TcpListenOptions,
  type TlsOptions,
  type UnixAddr,
  type UnixListenOptions,
} from "../src/index.ts";
import { nodeTlsHooks, plainChunk, type StartTlsOptions, upgradeToTls } from "./node-tls.ts";
import { checkUnixPath } from "./unix-path.ts";
import { refuseNodeTlsSocket, WRAP_REFUSES_TLS } from "./wrap-tls.ts";

export type { StartTlsOptions } from "./node-tls.ts";

export * from "../src/public.ts";

/**
 * Which adapter this entry is.
 *
 * @example
 * ```ts
 * import { runtime } from "hangup";
 * console.log(runtime); // "bun" when this adapter was picked
 * if (runtime === "deno") console.log("typed as the union of the four names: portable code compiles");
 * ```
 */
export const runtime: Runtime = "bun";

/**
 * What Bun can do (README: "What each runtime can and cannot do"). Server STARTTLS works because hangup runs `node:tls` over
 * its own TCP source, feeding it the bytes read ahead (Bun's own `upgradeTLS` loses them; docs/tls.md).
 *
 * @example
 * ```ts
 * import { capabilities } from "hangup/bun";
 * console.log(capabilities.wrap); // true: wrap() takes a socket from Bun.connect, or one unwrap() handed out
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
  falseEof: false,
  listen: true,
  unixSockets: true,
  wrap: true,
});

/**
 * What a Bun socket's events go to: the object in its `data`. hangup's handlers call these
 * methods, so a socket stays hangup's while `data` is hangup's state, and whoever takes an
 * unwrapped socket over sets `data` to its own handlers (Bun's `SocketHandler` signatures).
 * A handler that throws goes to `error`; without one, the socket is terminated and `close`
 * gets the error. A write hangup was still sending at `unwrap()` is finished first: until it
 * is, the socket's `write()` takes nothing (returns 0, as when Bun's buffer is full) and its
 * `shutdown()` / `end()` wait (`terminate()` does not: give up with it, if the peer never reads);
 * `drain` comes once it is done, and its promise settles then. Set `data` in the turn of
 * `unwrap()`: what Bun reports before (bytes and a close at an RST, even to the paused socket)
 * is not replayed to you (`wrap()` does replay it).
 *
 * @example
 * ```ts
 * import type { SocketOwner } from "hangup/bun";
 * const { native } = conn.unwrap();
 * const owner: SocketOwner = { data: (_socket, chunk) => console.log(chunk.length), close: () => console.log("closed") };
 * native.data = owner;
 * native.resume();
 * ```
 */
export interface SocketOwner {
  data(socket: Socket<SocketOwner>, chunk: Uint8Array): void;
  end?(socket: Socket<SocketOwner>): void;
  drain?(socket: Socket<SocketOwner>): void;
  close?(socket: Socket<SocketOwner>, error?: unknown): void;
  error?(socket: Socket<SocketOwner>, error: unknown): void;
}

/** hangup's own `Bun.listen` servers: their sockets' handlers are hangup's, so no `reload()`. */
const ownListeners = new WeakSet<object>();
/** A write a state was still sending when its socket was unwrapped: finished before anything else. */
const unfinished = new WeakMap<object, SocketState[]>();
/** True while `drain` sends the writes earlier owners left unfinished: past the guard below. */
let finishingUnfinished = false;

/** A guarded socket's stand-in methods, and the shutdown() or end() its owner called meanwhile. */
interface Guard {
  methods: Record<"write" | "shutdown" | "end", (...args: unknown[]) => unknown>;
  deferred: (() => void)[];
}
const guards = new WeakMap<object, Guard>();

/**
 * While a write hangup was sending at `unwrap()` is unfinished, the socket's new owner cannot
 * get ahead of it: its `write()` takes nothing (0, as when Bun's buffer is full: it writes again
 * at `drain`, which comes once hangup's write is done), and its `shutdown()` or `end()` waits for
 * it. Without this its bytes went out in the middle of hangup's, and its FIN cut the rest.
 */
function guardUnfinished(socket: Socket<SocketOwner>): void {
  if (guards.has(socket) || Object.hasOwn(socket, "write")) return;
  const proto = Object.getPrototypeOf(socket) as Record<"write" | "shutdown" | "end", (...args: unknown[]) => unknown>;
  const held = (): boolean => unfinished.has(socket) && !finishingUnfinished;
  const deferred: (() => void)[] = [];
  const later = (name: "shutdown" | "end") => (...args: unknown[]): unknown => {
    const call = () => proto[name].apply(socket, args);
    if (!held()) return call();
    deferred.push(call);
  };
  const methods = {
    write: (...args: unknown[]) => (held() ? 0 : proto.write.apply(socket, args)),
    shutdown: later("shutdown"),
    end: later("end"),
  };
  guards.set(socket, { methods, deferred });
  Object.assign(socket, methods);
}

/** The unfinished writes are done (or the socket closed): the owner's own methods again, and what it deferred. */
function unguard(socket: Socket<SocketOwner>, closed: boolean): void {
  const guard = guards.get(socket);
  if (guard === undefined) return;
  guards.delete(socket);
  const own = socket as unknown as Record<string, unknown>;
  for (const [name, method] of Object.entries(guard.methods)) {
    // Only the guard's own: a method the owner set since stays.
    if (own[name] === method) delete own[name];
  }
  if (!closed) { for (const call of guard.deferred) call(); }
}

/** Why a socket was terminated by the `error` handler, for its `close`. */
const failures = new WeakMap<object, unknown>();

/** What Bun reports for a socket, routed to its source. */
class SocketState implements SocketOwner {
  sink: ConnSink | undefined;
  /** Events before `start` (a connection waiting in the accept queue). */
  earlyError: unknown;
  earlyClose = false;
  sawEnd = false;
  closed = false;
  detached = false;
  closeError: unknown;
  pendingWrite: { bytes: Uint8Array; resolve: () => void; reject: (err: unknown) => void } | undefined;
  onClosed: (() => void)[] | undefined;

  constructor(readonly socket: Socket<SocketOwner>) {}

  // Plain Uint8Array chunks, as on every runtime (plainChunk). Bun's own binaryType
  // "uint8array" costs about a tenth more CPU and page faults per GiB (measured).
  /** Bytes Bun delivered while nobody reads (in the accept queue, or handed over): a paused socket still gets them at an RST. */
  early: Uint8Array[] | undefined;

  data(_socket: unknown, chunk: Uint8Array): void {
    if (!this.detached && this.sink) this.sink.data(plainChunk(chunk));
    else (this.early ??= []).push(plainChunk(chunk));
  }

  end(): void {
    // The kernel's answer to a write Bun refused was the peer's reset: this end is its consequence.
    if (this.refusedReset !== undefined) {
      if (!this.detached) this.sink?.error(this.refusedReset);
      return;
    }
    this.sawEnd = true;
    this.updateHold();
    if (!this.detached) this.sink?.end();
  }

  /** `conn.unref()` was called (and no `ref()` since). */
  unreferenced = false;

  /**
   * After the peer's FIN the socket stays open for our writes (allowHalfOpen), and Bun keeps the
   * process alive for it: a script that read to the end and never closed would not exit, as it
   * does on Node and Deno. So from then on, as while the connection is unref'd, it holds the
   * process only while a write is going out.
   */
  updateHold(): void {
    if (this.closed || this.detached) return;
    const writing = this.pendingWrite !== undefined || (this.waitingWrites?.length ?? 0) > 0;
    if (writing || !this.holdsOnlyWhileWriting) this.socket.ref();
    else this.socket.unref();
  }

  get holdsOnlyWhileWriting(): boolean {
    return this.sawEnd || this.unreferenced;
  }

  close(_socket: unknown, error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error ?? this.refusedReset;
    error = this.closeError;
    this.failPendingWrite(error);
    const waiting = this.onClosed;
    this.onClosed = undefined;
    if (waiting) { for (const resolve of waiting) resolve(); }
    if (this.detached) return;
    const sink = this.sink;
    if (!sink) {
      this.earlyClose = true;
      this.earlyError = error;
      return;
    }
    if (error !== undefined) sink.error(error);
    // After our shutdown() Bun reports the peer's FIN as a close with no `end`.
    else if (!this.sawEnd) sink.end();
    sink.closed();
  }

  drain(): void {
    const pending = this.pendingWrite;
    if (!pending) return; // Bun fires stray drains
    this.pendingWrite = undefined;
    this.writeFrom(pending.bytes, pending.resolve, pending.reject);
    const waiting = this.waitingWrites;
    while (this.pendingWrite === undefined && waiting !== undefined && waiting.length > 0) {
      const next = waiting.shift()!;
      this.writeFrom(next.bytes, next.resolve, next.reject);
    }
  }

  /** Writes behind `pendingWrite` (the core hands the rest of a write sent in pieces over at unwrap()). */
  waitingWrites: { bytes: Uint8Array; resolve: () => void; reject: (err: unknown) => void }[] | undefined;

  writeFrom(bytes: Uint8Array, resolve: () => void, reject: (err: unknown) => void): void {
    if (this.pendingWrite !== undefined) {
      (this.waitingWrites ??= []).push({ bytes, resolve, reject });
      return;
    }
    const previous = unfinished.get(this.socket);
    if (previous !== undefined && previous[0] !== this) {
      // Behind the writes earlier owners were still sending: written at the drain that ends them.
      this.pendingWrite = { bytes, resolve, reject };
      return;
    }
    if (this.holdsOnlyWhileWriting) this.socket.ref();
    const written = this.closed ? -1 : this.socket.write(bytes);
    if (written < 0 && !this.closed) {
      // The write took the kernel's error, so Bun's end and close that follow carry none.
      const refused = this.deadSocketError() as { code?: unknown };
      if (refused.code === "ECONNRESET") this.refusedReset ??= refused;
      // The socket died before Bun's close handler said why (an RST on its way): the write waits
      // for that, briefly, rather than name a peer's reset our own close.
      const timer = setTimeout(() => reject(this.deadSocketError()), 100);
      void this.whenClosed().then(() => {
        clearTimeout(timer);
        reject(this.deadSocketError());
      });
      return;
    }
    if (written < 0) return reject(this.deadSocketError());
    if (written === bytes.length) {
      if (this.holdsOnlyWhileWriting) this.updateHold();
      return resolve();
    }
    this.pendingWrite = { bytes: bytes.subarray(written), resolve, reject };
  }

  failPendingWrite(error: unknown): void {
    const pending = this.pendingWrite;
    this.pendingWrite = undefined;
    pending?.reject(error ?? this.deadSocketError());
    const waiting = this.waitingWrites;
    this.waitingWrites = undefined;
    if (waiting) { for (const next of waiting) next.reject(error ?? this.deadSocketError()); }
  }

  /** Our FIN went out (closeWrite): a write refused after it is refused because of it. */
  shutDown = false;
  /** A write Bun refused before the peer's FIN: the peer's reset (deadSocketError). */
  refusedReset: unknown;

  /**
   * Bun's write on a dead socket returns -1 with no error: name it. The kernel refuses a write
   * only once the peer reset (our own close and closeWrite are known here): EPIPE after the peer's
   * FIN, else ECONNRESET. The write takes the kernel's error, so the reads then end at the
   * unread bytes as if at a FIN, and Bun's close says nothing: this is all there is to tell a
   * reset by (a reader paused above highWaterMark, with a peer that resets while we write).
   */
  deadSocketError(): unknown {
    if (this.closeError !== undefined) return this.closeError;
    if (this.sawEnd) return Object.assign(new Error("The socket is closed"), { code: "EPIPE" });
    if (this.shutDown || this.detached) return Object.assign(new Error("The socket is closed"), { code: "ERR_SOCKET_CLOSED" });
    return Object.assign(new Error("The peer reset the connection: Bun refused a write"), { code: "ECONNRESET" });
  }

  whenClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((resolve) => (this.onClosed ??= []).push(resolve));
  }

  /** Waiting for the write this state was still sending when its socket changed hands. */
  onSent: (() => void)[] | undefined;

  /** That write is done (or failed): whoever waits for it goes on. */
  sent(): void {
    const waiting = this.onSent;
    this.onSent = undefined;
    if (waiting) { for (const resolve of waiting) resolve(); }
  }
}

/** Resolves once a write an earlier owner was still sending at `unwrap()` is done; undefined if none. */
function unfinishedSent(socket: Socket<SocketOwner>): Promise<void> | undefined {
  const last = unfinished.get(socket)?.at(-1);
  return last === undefined ? undefined : new Promise((resolve) => (last.onSent ??= []).push(resolve));
}

const handlers: SocketHandler<SocketOwner> = {
  data: (socket, chunk) => socket.data.data(socket, chunk),
  end: (socket) => socket.data?.end?.(socket),
  close: (socket, error) => {
    const failure = failures.get(socket);
    const why = error ?? failure;
    const previous = unfinished.get(socket);
    if (previous !== undefined) {
      unfinished.delete(socket);
      unguard(socket, true);
      for (const state of previous) {
        state.close(socket, why);
        state.sent();
      }
    }
    socket.data?.close?.(socket, why);
  },
  drain: (socket) => {
    const previous = unfinished.get(socket);
    if (previous !== undefined) {
      // Earlier owners' writes, oldest first: each goes on once the one before it is done.
      while (previous.length > 0) {
        const state = previous[0]!;
        finishingUnfinished = true;
        try {
          state.drain();
        } finally {
          finishingUnfinished = false;
        }
        if (state.pendingWrite !== undefined) return;
        previous.shift();
        state.sent();
      }
      unfinished.delete(socket);
      unguard(socket, false);
    }
    socket.data?.drain?.(socket);
  },
  // Called when a handler throws (a new owner's, or a bug of ours): never let it pass silently.
  error: (socket, error) => {
    const owner = socket.data as Partial<SocketOwner> | null | undefined;
    if (typeof owner?.error === "function") return owner.error(socket, error);
    failures.set(socket, error);
    socket.terminate();
  },
};

/** One Bun socket as a source; a class, so its methods live on the prototype, not in a closure each. */
class BunSource implements ConnSource<Socket<unknown>> {
  readonly native: Socket<SocketOwner>;

  constructor(
    readonly state: SocketState,
    readonly localAddr: Addr,
    readonly remoteAddr: Addr,
  ) {
    this.native = state.socket;
  }

  start(sink: ConnSink): void {
    const state = this.state;
    state.sink = sink;
    const early = state.early;
    state.early = undefined;
    if (early) { for (const chunk of early) sink.data(chunk); }
    if (state.earlyClose) {
      if (state.earlyError !== undefined) sink.error(state.earlyError);
      else sink.end();
      sink.closed();
      return;
    }
    // The peer's FIN came before (a socket taken over after it).
    if (state.sawEnd) sink.end();
    state.updateHold();
    this.native.resume();
  }

  pause(): void {
    this.native.pause();
  }

  resume(): void {
    this.native.resume();
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => this.state.writeFrom(bytes, resolve, reject));
  }

  async closeWrite(): Promise<void> {
    // After a write an earlier owner was still sending (unwrap()): the FIN must not cut it.
    await unfinishedSent(this.native);
    this.state.shutDown = true;
    if (!this.state.closed) this.native.shutdown();
  }

  close(): Promise<void> {
    const before = unfinishedSent(this.native);
    if (before) return before.then(() => this.close());
    // Bun's end() closes both directions (and may call `close` before it returns).
    if (!this.state.closed) this.native.end();
    return this.state.whenClosed();
  }

  destroy(): void {
    // Bun has no close that is neither graceful nor an RST: `end()` is the nearest to "release now",
    // Bun's own, not held behind an earlier owner's write (guardUnfinished).
    if (!this.state.closed) (Object.getPrototypeOf(this.native) as Socket<SocketOwner>).end.call(this.native);
  }

  reset(): void {
    if (!this.state.closed) this.native.terminate();
  }

  linger(): void {
    // Nothing to do: the socket reads on and, as any open socket, keeps the process alive meanwhile
    // (2 s at most, the core's bound), so a script ending right after close() loses no byte.
  }

  detach(): void {
    // The new owner takes the socket over by setting its `data` (SocketOwner), or with wrap().
    this.state.detached = true;
    if (this.state.pendingWrite !== undefined) {
      const previous = unfinished.get(this.native);
      if (previous === undefined) unfinished.set(this.native, [this.state]);
      else if (!previous.includes(this.state)) previous.push(this.state);
      guardUnfinished(this.native);
    }
    this.native.pause();
  }

  setKeepAlive(delay: number | false): void {
    if (delay === false) this.native.setKeepAlive(false);
    else this.native.setKeepAlive(true, delay);
  }

  setNoDelay(noDelay: boolean): void {
    this.native.setNoDelay(noDelay);
  }

  setRef(referenced: boolean): void {
    this.state.unreferenced = !referenced;
    this.state.updateHold();
  }
}

function bunSource(state: SocketState, localAddr: Addr, remoteAddr: Addr): ConnSource<Socket<unknown>> {
  return new BunSource(state, localAddr, remoteAddr);
}

/** The socket's hangup state, made if it has none yet. */
function stateOf(socket: Socket<SocketOwner>): SocketState {
  const owner = socket.data;
  if (owner instanceof SocketState) return owner;
  const state = new SocketState(socket);
  socket.data = state;
  return state;
}

/**
 * A fresh state for `socket`, knowing what the socket's previous hangup state saw: the peer's
 * FIN, or the close (Bun reports neither again).
 */
function freshState(socket: Socket<SocketOwner>): SocketState {
  const previous = socket.data as unknown;
  const state = new SocketState(socket);
  if (previous instanceof SocketState) {
    state.early = previous.early;
    previous.early = undefined;
    if (previous.closed) state.close(socket, previous.closeError);
    else {
      state.sawEnd = previous.sawEnd;
      state.shutDown = previous.shutDown;
      state.refusedReset = previous.refusedReset;
    }
  } else if (socket.readyState === -1 || socket.readyState === 0) {
    // Bun's readyState: 1 open, -2 shut down (still readable), -1 detached, 0 closed.
    state.close(socket, undefined);
  }
  // Our FIN went out before (Bun: shut down, still readable): a refused write is no reset.
  if (socket.readyState === -2) state.shutDown = true;
  return state;
}

function isBunSocket(native: unknown): native is Socket<SocketOwner> {
  const socket = native as Partial<Socket<SocketOwner>> | null;
  return typeof socket === "object" && socket !== null && typeof socket.reload === "function" && typeof socket.pause === "function";
}

/** A connecting socket's two ends; over a Unix socket its own end is unnamed (""), as the kernel says. */
function addrsOf(socket: Socket<SocketOwner>, unixPath: string | undefined): { local: Addr; remote: Addr } {
  if (unixPath !== undefined) {
    return { local: { transport: "unix", path: "" }, remote: { transport: "unix", path: unixPath } };
  }
  return {
    local: tcpAddr(socket.localAddress, socket.localPort),
    remote: tcpAddr(socket.remoteAddress, socket.remotePort),
  };
}

/**
 * Connects over TCP (`hostname`, default `127.0.0.1`, and `port`) or a Unix socket (`path`).
 *
 * @example
 * ```ts
 * import { connect } from "hangup/bun";
 * const conn = await connect({ port: 7000, timeout: 5000 });
 * await conn.write("hello\n");
 * console.log(await conn.readUntil("\n"));
 * await conn.close();
 * ```
 */
export function connect(options: ConnectOptions & { tls: true | TlsOptions }): Promise<Conn<TLSSocket>>;
export function connect(options: ConnectOptions & { tls?: undefined }): Promise<Conn<Socket<unknown>>>;
export function connect(options: ConnectOptions): Promise<Conn<Socket<unknown> | TLSSocket>>;
export function connect(options: ConnectOptions): Promise<Conn<Socket<unknown> | TLSSocket>> {
  return connectWith(options, {
    open(endpoint, cancelled) {
      const socketHandlers: SocketHandler<SocketOwner> = {
        ...handlers,
        // The socket is created (and its state set) before any event can fire.
        open: (socket) => {
          socket.data = new SocketState(socket);
          socket.pause();
          // Bun.connect cannot be cancelled: a socket that opens after the attempt was given up is dropped.
          if (cancelled.aborted) socket.terminate();
        },
        connectError: () => {},
      };
      const common = { allowHalfOpen: true, socket: socketHandlers, data: undefined as unknown as SocketOwner };
      if (endpoint.transport === "unix") checkUnixPath(endpoint.path);
      return (endpoint.transport === "unix"
        ? Bun.connect({ ...common, unix: endpoint.path })
        : Bun.connect({ ...common, hostname: endpoint.hostname, port: endpoint.port }))
        .catch((err: unknown) => Promise.reject(outOfDescriptors(err, "ECONNREFUSED") ?? err));
    },
    discard: (late) => late.terminate(),
    toSource(socket, endpoint) {
      const { local, remote } = addrsOf(socket, endpoint.transport === "unix" ? endpoint.path : undefined);
      return bunSource(stateOf(socket), local, remote);
    },
    // hangup reads the TCP bytes itself and runs node:tls over them (see node-tls.ts): Bun's
    // own TLS cannot tell a truncation from a clean close, and its upgradeTLS loses read-ahead bytes.
    tls: nodeTlsHooks,
  });
}

/**
 * Bun 1.4 reports a `socket()` that failed with EMFILE/ENFILE as ECONNREFUSED (errno -111,
 * syscall "connect"), indistinguishable from a refusal, and a listen that failed so as "Failed
 * to listen", with no code. On those errors only, one probe descriptor tells them apart: the
 * probe's own EMFILE/ENFILE error, or undefined.
 */
function outOfDescriptors(err: unknown, reportedAs: "ECONNREFUSED" | undefined): unknown {
  if ((err as { code?: unknown } | null)?.code !== reportedAs) return undefined;
  try {
    closeSync(openSync(devNull, "r"));
    return undefined;
  } catch (probe) {
    const code = (probe as { code?: unknown }).code;
    return code === "EMFILE" || code === "ENFILE" ? probe : undefined;
  }
}

/**
 * Listens on TCP (`hostname`, default `0.0.0.0`, and `port`, 0 or absent for an
 * ephemeral one) or a Unix socket (`path`). `backlog` is not settable on Bun.
 *
 * @example
 * ```ts
 * import { listen } from "hangup/bun";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr);
 * for await (const conn of listener) void conn.close();
 * ```
 */
export function listen(options: UnixListenOptions & { tls: ServerTlsOptions }): Promise<Listener<UnixAddr, TLSSocket>>;
export function listen(options: UnixListenOptions & { tls?: undefined }): Promise<Listener<UnixAddr, Socket<unknown>>>;
export function listen(options: UnixListenOptions): Promise<Listener<UnixAddr, Socket<unknown> | TLSSocket>>;
export function listen(options: TcpListenOptions & { tls: ServerTlsOptions }): Promise<Listener<TcpAddr, TLSSocket>>;
export function listen(options?: TcpListenOptions & { tls?: undefined }): Promise<Listener<TcpAddr, Socket<unknown>>>;
export function listen(options?: TcpListenOptions): Promise<Listener<TcpAddr, Socket<unknown> | TLSSocket>>;
export function listen(options?: ListenOptions): Promise<Listener<Addr, Socket<unknown> | TLSSocket>>;
export function listen(options?: ListenOptions): Promise<Listener<Addr, Socket<unknown> | TLSSocket>> {
  return listenWith(options, { bind: bindOrExplain, tls: nodeTlsHooks });
}

/** The address a listener is bound to: Bun's `hostname` repeats the name it was given ("localhost"). */
function boundAddress(server: { hostname?: string; getsockname?(out: { address?: string }): void }): string | undefined {
  const out: { address?: string } = {};
  try {
    server.getsockname?.(out);
  } catch {
    // Not in this Bun: its hostname it is.
  }
  return out.address ?? server.hostname;
}

/**
 * `bindBun`, its failure given a code where Bun gives none: for a host name that does not
 * resolve, Bun says only "Failed to listen at <name>", where Node and Deno say `ENOTFOUND`;
 * and so it says when the process is out of descriptors, where they say `EMFILE`.
 */
async function bindOrExplain(endpoint: Endpoint): Promise<ListenerSource<Addr, Socket<unknown>>> {
  try {
    return bindBun(endpoint);
  } catch (err) {
    const exhausted = outOfDescriptors(err, undefined);
    if (exhausted !== undefined) throw exhausted;
    const named = endpoint.transport === "tcp" && isIP(endpoint.hostname) === 0;
    if (!named || (err as { code?: unknown } | null)?.code !== undefined) throw err;
    // The lookup's own error (ENOTFOUND, EAI_AGAIN) says why; if the name resolves, Bun's stands.
    await lookup(endpoint.hostname);
    throw err;
  }
}

function bindBun(endpoint: Endpoint): ListenerSource<Addr, Socket<unknown>> {
  if (endpoint.transport === "unix") checkUnixPath(endpoint.path);
  let sink: ListenerSink<Socket<unknown>> | undefined;
  const unixPath = endpoint.transport === "unix" ? endpoint.path : undefined;
  // The connections of a listener share their local address, as a rule: one frozen object for them
  // all saves two objects per idle connection (and the unix path's remote as well). Peers often
  // share a host too (a proxy, a pool): its name is kept once, not once per connection.
  let shared: Readonly<Addr> | undefined = unixPath === undefined ? undefined : Object.freeze({ transport: "unix", path: unixPath });
  /** A Unix client's end is unnamed. */
  const unnamed: Readonly<Addr> = Object.freeze({ transport: "unix", path: "" });
  let peerHost: string | undefined;
  const socketHandlers: SocketHandler<SocketOwner> = {
    ...handlers,
    open(socket) {
      const state = new SocketState(socket);
      socket.data = state;
      // Nothing is read until the application accepts the connection (but for what Bun delivers at an RST: kept in `early`),
      // and, as on Node and Deno, a connection waiting to be accepted does not keep the process alive (start() refs it).
      socket.pause();
      socket.unref();
      if (unixPath !== undefined) return sink!.connection(bunSource(state, shared!, unnamed));
      const hostname = socket.localAddress;
      const port = socket.localPort;
      if (shared?.transport !== "tcp" || shared.hostname !== hostname || shared.port !== port) {
        shared = Object.freeze(tcpAddr(hostname, port));
      }
      const remoteHost = socket.remoteAddress;
      if (remoteHost !== peerHost) peerHost = remoteHost;
      sink!.connection(bunSource(state, shared, tcpAddr(peerHost, socket.remotePort)));
    },
  };
  const common = { allowHalfOpen: true, socket: socketHandlers, data: undefined as unknown as SocketOwner };
  const server: {
    stop(closeActiveConnections?: boolean): void;
    ref(): void;
    unref(): void;
    hostname?: string;
    port?: number;
    getsockname?(out: { address?: string }): void;
  } = endpoint.transport === "unix"
    ? Bun.listen({ ...common, unix: endpoint.path })
    : Bun.listen({ ...common, hostname: endpoint.hostname, port: endpoint.port, exclusive: true });
  ownListeners.add(server);
  return {
    addr: endpoint.transport === "unix" ? { transport: "unix", path: endpoint.path } : tcpAddr(boundAddress(server), server.port),
    start: (s) => void (sink = s),
    setRef: (referenced) => void (referenced ? server.ref() : server.unref()),
    async close() {
      // false: established connections stay open.
      server.stop(false);
    },
  };
}

/**
 * A `Conn` over a Bun socket you already have: one from `Bun.connect` (hangup gives it its
 * handlers with `socket.reload()`, and its `data` becomes hangup's; open it with
 * `allowHalfOpen: true`, or Bun closes it at the peer's FIN), or one a hangup `Conn` handed out
 * with `unwrap()`. Throws a `TypeError` if another `Conn` still reads from it
 * (`unwrap()` that one first), or if a `Bun.listen` of your own accepted it: Bun's `reload()`
 * on such a socket replaces the handlers of every socket of that listener (accept with
 * hangup's `listen()` instead). A TLS socket (`Bun.connect({ tls })`) is refused too: hangup
 * would not see its close_notify, so a truncation would look like a clean end. Wrap the
 * plaintext socket and `startTls()` it, or use `connect({ tls })`.
 *
 * @example
 * ```ts
 * import { wrap } from "hangup/bun";
 * const socket = await Bun.connect({ hostname: "127.0.0.1", port: 7000, allowHalfOpen: true, socket: { data() {} } });
 * const conn = wrap(socket, { idleTimeout: 10_000 });
 * await conn.write("hello\n");
 * ```
 */
export function wrap(native: Socket<unknown>, options?: ConnOptions): Conn<Socket<unknown>> {
  const socket = native as Socket<SocketOwner>;
  refuseNodeTlsSocket(socket);
  if (!isBunSocket(socket)) throw new TypeError("native must be a Bun socket (from Bun.connect, or unwrap() of a hangup Conn)");
  if (Object.prototype.toString.call(socket) === "[object TLSSocket]") throw new TypeError(WRAP_REFUSES_TLS);
  const listener = (socket as { listener?: object }).listener;
  if (listener !== undefined && !ownListeners.has(listener)) {
    throw new TypeError(
      "native was accepted by a Bun.listen() that is not hangup's: Bun's socket.reload() would replace the handlers of every socket of that listener; accept it with hangup's listen()",
    );
  }
  // Owned while its data is a hangup state not handed over: two readers would split its bytes.
  const owner = socket.data as unknown;
  if (owner instanceof SocketState && !owner.detached) throw new TypeError("native is already wrapped by hangup; unwrap() that Conn first");
  const state = freshState(socket);
  const { local, remote } = addrsOf(socket, undefined);
  const source = bunSource(state, local, remote);
  // A client socket has handlers of its own: reload() gives it hangup's, and only it.
  if (listener === undefined) socket.reload({ socket: handlers });
  socket.data = state;
  socket.pause();
  return createConn(source, options);
}

/**
 * Upgrades a plaintext `Conn` to TLS (SMTP/IMAP `STARTTLS`, a Postgres `SSLRequest`), as
 * client (default) or server (`side: "server"`, with `cert` and `key`). `conn` is consumed;
 * the bytes it had read ahead go to the TLS layer (Bun's own `upgradeTLS` loses them).
 * Rejects with `TlsHandshakeError`. The new connection keeps `conn`'s options
 * (`idleTimeout`, `writeTimeout`, `serve()`'s default included, `heartbeat`, `signal`, ...)
 * unless `options` set them, and under `serve()` it is closed when the handler settles.
 * `conn` must be a plaintext `Conn` of this adapter (from its `connect`, `listen` or `wrap`);
 * another, such as one from `fromStreams`, is refused with a `TypeError`.
 *
 * @example
 * ```ts
 * import { connect, startTls } from "hangup/bun";
 * const plain = await connect({ hostname: "mail.example", port: 587 });
 * await plain.write("STARTTLS\r\n");
 * await plain.readUntil("\r\n");
 * const conn = await startTls(plain, { serverName: "mail.example" });
 * ```
 */
export function startTls(conn: Conn, options?: StartTlsOptions): Promise<Conn<TLSSocket>> {
  return upgradeToTls(conn, options, { is: isBunSocket, name: "Bun socket" }, (socket, remote) => {
    // The old state is detached; a fresh one takes the socket's events from here on (hangup's
    // handlers route them to `data`: a reload() here would replace its listener's handlers).
    const state = freshState(socket);
    const source = bunSource(state, conn.localAddr, remote);
    socket.data = state;
    return source;
  });
}
