/**
 * hangup on Deno: a translation of `Deno.Conn` into the core's `ConnSource`
 * contract, through the core's pull source (`PullSource`), which owns the read
 * pump. Every policy lives in `hangup/core`.
 *
 * Deno's quirks, handled here:
 * - reads use `conn.read()` into a reused buffer (4 KiB, 64 KiB or 128 KiB as reads
 *   fill it; small reads copied out of it), never `for await` over `conn.readable`,
 *   which closes the connection at EOF and loses the reply to a half-close;
 * - no abortive close: `close`, `destroy` and `reset` are one call,
 *   `conn.close()`, which sends a FIN (`capabilities.reset` is false);
 * - a pending `conn.read()` cannot be cancelled: on `unwrap()` its bytes are
 *   served first by the conn's own `read` (`handOverInFlightRead`);
 * - keepalive is on/off only; `backlog` is not settable; accepting is a pull
 *   loop, paused while the listener's queue is full; Deno removes a Unix socket
 *   file itself once the listener and its pending accept are gone (so hangup does
 *   not); `accept()` throws for a client that reset while queued (`NotConnected`),
 *   which is skipped.
 *
 * @example
 * ```ts
 * import { listen, serve } from "hangup/deno";
 * const listener = await listen({ port: 7000 });
 * await serve(listener, async (conn) => {
 *   for await (const chunk of conn) await conn.write(chunk);
 * });
 * ```
 *
 * @module
 */
import {
  type Addr,
  type Capabilities,
  claim,
  type Conn,
  type ConnectOptions,
  connectWith,
  type ConnOptions,
  type ConnSource,
  createConn,
  defineCapabilities,
  type Endpoint,
  type Listener,
  type ListenerSource,
  type ListenOptions,
  listenWith,
  PullSource,
  type PullTransport,
  release,
  type Runtime,
  type ServerTlsOptions,
  type TcpAddr,
  type TcpListenOptions,
  type TlsOptions,
  type UnixAddr,
  type UnixListenOptions,
} from "../src/index.ts";
import { nodeTlsHooks, type StartTlsOptions, upgradeToTls } from "./node-tls.ts";
import type { TLSSocket } from "node:tls";
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
 * console.log(runtime); // "deno" when this adapter was picked
 * if (runtime === "deno") console.log("typed as the union of the four names: portable code compiles");
 * ```
 */
export const runtime: Runtime = "deno";

/**
 * What Deno can do (README: "What each runtime can and cannot do"): no abortive close, so
 * `reset()` sends a FIN; keepalive is on/off with the kernel's delay. TLS (server STARTTLS
 * included, and a truncation told apart) runs Deno's `node:tls` over hangup's own TCP reads.
 *
 * @example
 * ```ts
 * import { capabilities } from "hangup/deno";
 * console.log(capabilities.reset); // false: reset() closes with a FIN
 * ```
 */
export const capabilities: Readonly<Capabilities> = defineCapabilities({
  reset: false,
  halfClose: true,
  keepAlive: true,
  keepAliveDelay: false,
  noDelay: true,
  serverStartTls: true,
  tlsTruncation: true,
  falseEof: false,
  listen: true,
  unixSockets: true,
  wrap: true,
});

const READ_SIZE = 65536;
/**
 * The read buffer while reads fill READ_SIZE ones (a bulk stream): half the reads, promises and
 * objects per byte. With 64 KiB reads, V8 (Deno 2.9) went into a mark-compact every 20–100 ms in
 * most bulk runs, to free the read buffers, at 15–40% more CPU (docs/benchmarks.md). A read that
 * does not fill it brings the next one back to READ_SIZE, and it is not kept for the next read. A
 * burst whose last read filled it leaves the idle wait in one (as one in READ_SIZE did before).
 */
const BULK_READ_SIZE = 131072;
/**
 * The read buffer of a connection whose reads are small: Deno holds the buffer of a pending read,
 * so an idle connection keeps it, and 64 KiB each made 10,000 idle connections cost 620 MB.
 * A read that fills it makes the next buffer READ_SIZE; a read of SMALL_READ_SIZE / 2 or less
 * brings it back down.
 */
const SMALL_READ_SIZE = 4096;
/** What `accept()` throws for a connection the client reset before it was accepted. */
const GONE_BEFORE_ACCEPT = new Set(["NotConnected", "ConnectionReset", "ConnectionAborted"]);
/**
 * A read smaller than this is copied out and the read buffer kept for the next read, so a small
 * message neither pins nor costs a fresh 64 KiB buffer; a bigger one is handed over whole and a
 * new buffer allocated. (Deno 2.9: a fresh 64 KiB buffer costs about 5 µs, copying 32 KiB about 3.)
 */
const COPY_BELOW = 32768;

function addrOf(addr: Deno.Addr): Addr {
  if (addr.transport === "unix" || addr.transport === "unixpacket") return { transport: "unix", path: addr.path ?? "" };
  if (addr.transport === "tcp" || addr.transport === "udp") return { transport: "tcp", hostname: addr.hostname, port: addr.port };
  return { transport: "unix", path: "" };
}

/**
 * A write a transport was still sending when its conn was unwrapped: Deno's `write()` may take
 * part of the bytes, so the rest goes in later calls, which the next owner's writes must follow.
 */
const unfinishedWrites = new WeakMap<Deno.Conn, Promise<unknown>>();
/**
 * The error a conn's read failed with. The kernel reports a reset to one read only, and the next
 * returns EOF: a Conn made over the same conn later (`unwrap()` then `wrap()`) reads it first.
 */
const failedReads = new WeakMap<Deno.Conn, { error: unknown }>();
/** A conn's own `write`, while a hand-over's wrapper stands in front of it. */
const connWrites = new WeakMap<Deno.Conn, Deno.Conn["write"]>();

/**
 * One Deno connection's verbs for the core's pull source, which owns the pump. Reads go into
 * one reused buffer: a small read is copied out of it, a big one handed over whole.
 */
class DenoTransport implements PullTransport<Deno.Conn> {
  readonly native: Deno.Conn;
  /** The buffer the next read goes into: reused until a read's bytes are handed over in it. */
  #readBuffer: Uint8Array | undefined;
  /** The size of the next read buffer made: small until reads fill it. */
  #readSize = SMALL_READ_SIZE;
  // The read's reactions, made once per connection rather than per read (less garbage per chunk).
  // The read in flight is into #readBuffer: only #received changes it, and one read runs at a time.
  readonly #onRead = (n: number | null): Uint8Array | null => this.#received(this.#readBuffer!, n);
  readonly #onFail = (error: unknown): never => this.#failed(error);
  // Made when asked: most connections never are, and 10,000 idle ones would hold 20,000.
  #localAddr: Addr | undefined;
  #remoteAddr: Addr | undefined;

  /** This transport's last write, settled or still being sent (the core writes one at a time). */
  #writing: Promise<void> | undefined;
  /** Writes of this transport issued and not yet done (more than one only at unwrap()). */
  #inProgress = 0;
  /** Handed over by unwrap(): the conn's `write` may be a wrapper waiting for our writes. */
  #detached = false;
  /** A previous owner's write still being sent: ours go after it. */
  #behind: Promise<unknown> | undefined;

  constructor(conn: Deno.Conn) {
    claim(conn);
    this.native = conn;
    this.#behind = unfinishedWrites.get(conn);
    unfinishedWrites.delete(conn);
  }

  get localAddr(): Addr {
    return (this.#localAddr ??= addrOf(this.native.localAddr));
  }

  get remoteAddr(): Addr {
    return (this.#remoteAddr ??= addrOf(this.native.remoteAddr));
  }

  // Not an async function: an idle connection waits in this read, and a suspended async
  // function keeps a generator and a promise of its own alive for it.
  read(): Promise<Uint8Array | null> {
    const failed = failedReads.get(this.native);
    if (failed !== undefined) return Promise.reject(failed.error);
    return this.native.read(this.#readBuffer ??= new Uint8Array(this.#readSize)).then(this.#onRead, this.#onFail);
  }

  #failed(error: unknown): never {
    failedReads.set(this.native, { error });
    throw error;
  }

  #received(buffer: Uint8Array, n: number | null): Uint8Array | null {
    if (n === null) return null;
    if (n === buffer.length) {
      // More is coming than this buffer holds: the next is a size bigger, this buffer goes with its bytes.
      this.#readSize = buffer.length < READ_SIZE ? READ_SIZE : BULK_READ_SIZE;
      this.#readBuffer = undefined;
      return buffer;
    }
    if (buffer.length > READ_SIZE) {
      // The socket had less than a bulk buffer holds: the next wait is not made in one.
      this.#readSize = READ_SIZE;
      this.#readBuffer = undefined;
    }
    if (n <= SMALL_READ_SIZE / 2 && buffer.length > SMALL_READ_SIZE) {
      // Small again (a burst is over): the big buffer is not kept for an idle wait.
      this.#readSize = SMALL_READ_SIZE;
      this.#readBuffer = undefined;
    }
    if (n < COPY_BELOW) return buffer.slice(0, n);
    // The core keeps the chunk: this buffer is never read into again.
    this.#readBuffer = undefined;
    return buffer.subarray(0, n);
  }

  write(bytes: Uint8Array): Promise<void> {
    // Behind a previous owner's write (unwrap()), or one of ours still going (the core hands the
    // rest of a write sent in pieces over at unwrap()): Deno's write() may take part, and the rest
    // goes in later calls.
    const behind = this.#behind ?? (this.#inProgress > 0 ? this.#writing : undefined);
    this.#inProgress++;
    if (behind === undefined) return (this.#writing = this.#writeAll(bytes));
    this.#behind = undefined;
    return (this.#writing = behind.then(() => this.#writeAll(bytes), () => this.#writeAll(bytes)));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    const conn = this.native;
    // Once handed over, the conn's own write: the hand-over's wrapper waits for this very write.
    const write = this.#detached ? connWrites.get(conn) ?? conn.write : conn.write;
    try {
      for (let offset = 0; offset < bytes.length;) offset += await write.call(conn, bytes.subarray(offset));
    } finally {
      this.#inProgress--;
    }
  }

  /** A previous owner's write still being sent: ours, and our FIN, go after it. */
  #takeBehind(): Promise<unknown> | undefined {
    const behind = this.#behind;
    this.#behind = undefined;
    return behind?.catch(() => {});
  }

  closeWrite(): Promise<void> {
    const behind = this.#takeBehind();
    return behind ? behind.then(() => this.native.closeWrite()) : this.native.closeWrite();
  }

  async close(): Promise<void> {
    await this.#takeBehind();
    this.destroy();
  }

  destroy(): void {
    try {
      this.native.close();
    } catch {
      // Already closed.
    }
  }

  reset(): void {
    // Deno has no abortive close: the closest is a close, which sends FIN.
    this.destroy();
  }

  detach(pending: Promise<Uint8Array | null> | undefined): void {
    release(this.native);
    this.#detached = true;
    // Our last write, or, when we wrote nothing, the earlier owner's we would have waited for.
    const last = this.#writing ?? this.#behind;
    if (last !== undefined) {
      unfinishedWrites.set(this.native, last);
      handOverUnfinishedWrite(this.native, last);
    }
    if (pending) handOverInFlightRead(this.native, pending);
  }

  linger(): void {
    // Nothing to do: the socket reads on and, as any open socket, keeps the process alive meanwhile
    // (2 s at most, the core's bound), so a script ending right after close() loses no byte.
  }

  setKeepAlive(delay: number | false): void {
    (this.native as Deno.TcpConn).setKeepAlive?.(delay !== false);
  }

  setNoDelay(noDelay: boolean): void {
    (this.native as Deno.TcpConn).setNoDelay?.(noDelay);
  }

  setRef(referenced: boolean): void {
    // Deno's unref() is the pending read's (ours, always pending); a write is an op of its own and holds the process.
    if (referenced) this.native.ref();
    else this.native.unref();
  }
}

function denoSource(conn: Deno.Conn): ConnSource<Deno.Conn> {
  return new PullSource(new DenoTransport(conn));
}

/**
 * After `unwrap()`, a `conn.read()` of ours may still be waiting in Deno, and it
 * cannot be cancelled. Its bytes belong to the new owner: until they are taken,
 * the conn's own `read` (and a `readable` made from it) returns them first.
 *
 * This is the one place hangup still sets properties on the user's object, and only
 * until the late bytes are taken (or the read ended or failed). Why no other way:
 * `unwrap()` is synchronous and hands out the user's own `Deno.Conn` (its identity,
 * `instanceof Deno.TcpConn` and a later `wrap()` depend on it), while the pending
 * read may settle at any time after; the new owner reads through that object's
 * `read` or `readable`, so only those can put the late bytes first. Handing out a
 * stand-in (a Proxy) instead would give the user a different object.
 */
function handOverInFlightRead(conn: Deno.Conn, pending: Promise<Uint8Array | null>): void {
  let late: Uint8Array | null | undefined;
  let failure: { error: unknown } | undefined;
  const settled = pending.then(
    (bytes) => void (late = bytes),
    (error: unknown) => void (failure = { error }),
  );
  const ownRead = conn.read.bind(conn);
  // An earlier hand-over's, still holding bytes (unwrapped, wrapped and unwrapped again): it comes
  // back once this one's bytes are taken, not the runtime's own read past it.
  const earlierRead = Object.getOwnPropertyDescriptor(conn, "read");
  const earlierReadable = Object.getOwnPropertyDescriptor(conn, "readable");
  const restore = (): void => {
    // Only this hand-over's own read; a later hand-over's (unwrap again) stays until its bytes go.
    if (Object.getOwnPropertyDescriptor(conn, "read")?.value === read) putBack(conn, "read", earlierRead);
    // A readable made meanwhile stays the conn's one stream (its chunks pulled ahead are in it).
    if (readable === undefined && Object.getOwnPropertyDescriptor(conn, "readable")?.get === getReadable) {
      putBack(conn, "readable", earlierReadable);
    }
  };
  const read = async (p: Uint8Array): Promise<number | null> => {
    await settled;
    if (failure) {
      restore();
      throw failure.error;
    }
    if (late === null) {
      restore();
      return null;
    }
    if (late === undefined || late.length === 0) {
      restore();
      return ownRead(p);
    }
    const n = Math.min(p.length, late.length);
    p.set(late.subarray(0, n));
    late = late.subarray(n);
    if (late.length === 0) restore();
    return n;
  };
  let readable: ReadableStream<Uint8Array> | undefined;
  const getReadable = (): ReadableStream<Uint8Array> => {
    if (readable) return readable;
    readable = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const buffer = new Uint8Array(READ_SIZE);
        const n = await conn.read(buffer);
        if (n === null) controller.close();
        else controller.enqueue(buffer.subarray(0, n));
      },
    }, { highWaterMark: 0 });
    Object.defineProperty(conn, "readable", { configurable: true, value: readable });
    return readable;
  };
  Object.defineProperty(conn, "read", { value: read, configurable: true, writable: true });
  Object.defineProperty(conn, "readable", { configurable: true, get: getReadable });
}

/** Puts back the property a hand-over stood in front of, or removes the hand-over's own. */
function putBack(conn: Deno.Conn, key: "read" | "readable", earlier: PropertyDescriptor | undefined): void {
  if (earlier) Object.defineProperty(conn, key, earlier);
  else delete (conn as Partial<Record<typeof key, unknown>>)[key];
}

/** Until hangup's last write is sent, the conn's own write/closeWrite go after it. */
function handOverUnfinishedWrite(conn: Deno.Conn, writing: Promise<unknown>): void {
  let done = false;
  const settled = writing.then(() => {}, () => {});
  if (!connWrites.has(conn)) connWrites.set(conn, conn.write);
  const ownWrite = conn.write.bind(conn);
  const ownCloseWrite = conn.closeWrite.bind(conn);
  const write = async (p: Uint8Array): Promise<number> => (done ? ownWrite(p) : (await settled, ownWrite(p)));
  const closeWrite = async (): Promise<void> => (done ? ownCloseWrite() : (await settled, ownCloseWrite()));
  Object.defineProperty(conn, "write", { value: write, configurable: true, writable: true });
  Object.defineProperty(conn, "closeWrite", { value: closeWrite, configurable: true, writable: true });
  void settled.then(() => {
    done = true;
    if (Object.getOwnPropertyDescriptor(conn, "write")?.value === write) {
      delete (conn as { write?: unknown }).write;
      connWrites.delete(conn);
    }
    if (Object.getOwnPropertyDescriptor(conn, "closeWrite")?.value === closeWrite) delete (conn as { closeWrite?: unknown }).closeWrite;
  });
}

/**
 * Connects over TCP (`hostname`, default `127.0.0.1`, and `port`) or a Unix socket (`path`).
 *
 * @example
 * ```ts
 * import { connect } from "hangup/deno";
 * const conn = await connect({ port: 7000, timeout: 5000 });
 * await conn.write("hello\n");
 * console.log(await conn.readUntil("\n"));
 * await conn.close();
 * ```
 */
export function connect(options: ConnectOptions & { tls: true | TlsOptions }): Promise<Conn<TLSSocket>>;
export function connect(options: ConnectOptions & { tls?: undefined }): Promise<Conn<Deno.Conn>>;
export function connect(options: ConnectOptions): Promise<Conn<Deno.Conn | TLSSocket>>;
export function connect(options: ConnectOptions): Promise<Conn<Deno.Conn | TLSSocket>> {
  return connectWith(options, {
    // Given up (timeout, the user's signal), the attempt is aborted: a SYN the kernel still retries
    // would hold the process for minutes. A connection made meanwhile is closed by `discard`.
    open(endpoint, cancelled) {
      if (endpoint.transport === "tcp") {
        return Deno.connect({ transport: "tcp", hostname: endpoint.hostname, port: endpoint.port, signal: cancelled });
      }
      checkUnixPath(endpoint.path); // the same words as on Node and Bun
      return Deno.connect({ transport: "unix", path: endpoint.path });
    },
    discard: (late) => late.close(),
    toSource: denoSource,
    // hangup reads the TCP bytes itself and runs node:tls over them (see node-tls.ts):
    // Deno.connectTls cannot tell a truncation from a reset here, nor upgrade a server.
    tls: nodeTlsHooks,
  });
}

/**
 * Listens on TCP (`hostname`, default `0.0.0.0`, and `port`, 0 or absent for an
 * ephemeral one) or a Unix socket (`path`). `backlog` is not settable on Deno.
 *
 * @example
 * ```ts
 * import { listen } from "hangup/deno";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr);
 * for await (const conn of listener) void conn.close();
 * ```
 */
export function listen(options: UnixListenOptions & { tls: ServerTlsOptions }): Promise<Listener<UnixAddr, TLSSocket>>;
export function listen(options: UnixListenOptions & { tls?: undefined }): Promise<Listener<UnixAddr, Deno.Conn>>;
export function listen(options: UnixListenOptions): Promise<Listener<UnixAddr, Deno.Conn | TLSSocket>>;
export function listen(options: TcpListenOptions & { tls: ServerTlsOptions }): Promise<Listener<TcpAddr, TLSSocket>>;
export function listen(options?: TcpListenOptions & { tls?: undefined }): Promise<Listener<TcpAddr, Deno.Conn>>;
export function listen(options?: TcpListenOptions): Promise<Listener<TcpAddr, Deno.Conn | TLSSocket>>;
export function listen(options?: ListenOptions): Promise<Listener<Addr, Deno.Conn | TLSSocket>>;
export function listen(options?: ListenOptions): Promise<Listener<Addr, Deno.Conn | TLSSocket>> {
  return listenWith(options, { bind: bindDeno, tls: nodeTlsHooks });
}

/** A Deno listener as a listening source: Deno is pulled too, so accepting is a loop that pauses. */
function bindDeno(endpoint: Endpoint): ListenerSource<Addr, Deno.Conn> {
  if (endpoint.transport === "unix") checkUnixPath(endpoint.path);
  const server = endpoint.transport === "unix"
    ? Deno.listen({ transport: "unix", path: endpoint.path })
    : Deno.listen({ transport: "tcp", hostname: endpoint.hostname, port: endpoint.port });
  let closed = false;
  let paused = false;
  let wake: (() => void) | undefined;
  let accepting: Promise<void> = Promise.resolve();
  return {
    addr: addrOf(server.addr),
    start(sink) {
      accepting = (async () => {
        while (!closed) {
          while (paused && !closed) await new Promise<void>((resolve) => (wake = resolve));
          if (closed) return;
          try {
            sink.connection(denoSource(await server.accept()));
          } catch (err) {
            // A client that reset before it was accepted (Deno: NotConnected): take the next at once.
            // Anything else (EMFILE...) is transient too, but retried after a pause, not in a hot loop.
            if (!closed && !GONE_BEFORE_ACCEPT.has((err as Error).name)) await new Promise((resolve) => setTimeout(resolve, 10));
          }
        }
      })();
    },
    pause: () => void (paused = true),
    resume() {
      paused = false;
      wake?.();
    },
    // Deno's unref() is the pending accept's.
    setRef: (referenced) => void (referenced ? server.ref() : server.unref()),
    async close() {
      closed = true;
      wake?.();
      try {
        server.close();
      } catch {
        // Already closed.
      }
      // The address is released only once the pending accept has ended. Deno (2.9) removes a Unix
      // socket file itself, at close or once that accept ended: hangup removing it too could remove
      // the file of a listener bound at the path meanwhile.
      await accepting;
    },
  };
}

/** A `Deno.Conn`: a node:tls socket (what unwrap() of a TLS Conn hands out) has read() too, not closeWrite() nor localAddr. */
function isDenoConn(native: unknown): native is Deno.Conn {
  const candidate = native as Partial<Deno.Conn> | null;
  return typeof candidate === "object" && candidate !== null && typeof candidate.read === "function" &&
    typeof candidate.closeWrite === "function" && "localAddr" in candidate;
}

/**
 * A `Conn` over a `Deno.Conn` you already have. Throws a `TypeError` if
 * another `Conn` still reads from it (two readers would split its bytes);
 * `unwrap()` that one first. A `Deno.TlsConn` is refused too (`TypeError`):
 * hangup would not see its close_notify, so a truncation would look like a
 * clean end. Wrap the plaintext conn and `startTls()` it, or use
 * `connect({ tls })`.
 *
 * @example
 * ```ts
 * import { wrap } from "hangup/deno";
 * const conn = wrap(await Deno.connect({ port: 7000 }), { idleTimeout: 10_000 });
 * ```
 */
export function wrap(native: Deno.Conn, options?: ConnOptions): Conn<Deno.Conn> {
  refuseNodeTlsSocket(native);
  if (!isDenoConn(native)) throw new TypeError("native must be a Deno.Conn");
  if (typeof (native as Partial<Deno.TlsConn>).handshake === "function") throw new TypeError(WRAP_REFUSES_TLS);
  return createConn(denoSource(native), options);
}

/**
 * Upgrades a plaintext `Conn` to TLS (SMTP/IMAP `STARTTLS`, a Postgres `SSLRequest`), as
 * client (default) or server (`side: "server"`, with `cert` and `key`). `conn` is consumed;
 * the bytes it had read ahead go to the TLS layer. Rejects with `TlsHandshakeError`. The new connection keeps `conn`'s options
 * (`idleTimeout`, `writeTimeout`, `serve()`'s default included, `heartbeat`, `signal`, ...)
 * unless `options` set them, and under `serve()` it is closed when the handler settles.
 * `conn` must be a plaintext `Conn` of this adapter (from its `connect`, `listen` or `wrap`);
 * another, such as one from `fromStreams`, is refused with a `TypeError`.
 *
 * @example
 * ```ts
 * import { connect, startTls } from "hangup/deno";
 * const plain = await connect({ hostname: "mail.example", port: 587 });
 * await plain.write("STARTTLS\r\n");
 * await plain.readUntil("\r\n");
 * const conn = await startTls(plain, { serverName: "mail.example" });
 * ```
 */
export function startTls(conn: Conn, options?: StartTlsOptions): Promise<Conn<TLSSocket>> {
  return upgradeToTls(conn, options, { is: isDenoConn, name: "Deno.Conn" }, denoSource);
}
