/**
 * The `node:tls` TLS engine, used by the Node, Deno and Bun adapters: `node:tls` run over a
 * `stream.Duplex` that hangup feeds with the TCP bytes its own source reads, so hangup's TCP socket keeps telling FIN from RST, and the
 * order of "TLS ended" and "TCP FIN consumed" tells a close_notify from a truncation.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import process from "node:process";
import { Duplex } from "node:stream";
import * as tls from "node:tls";
import {
  type Addr,
  checkTlsOptions,
  type Conn,
  type ConnOptions,
  type ConnSink,
  type ConnSource,
  createConn,
  type ListenerSink,
  resolveConnOptions,
  type ResolvedTlsOptions,
  type ServerTlsOptions,
  type TlsEngine,
  type TlsEvents,
  type TlsHooks,
  type TlsInfo,
  type TlsOptions,
  TlsSource,
  type TlsWire,
} from "../src/index.ts";
import { checkOptionsObject, describe } from "../src/options.ts";
import {
  checkUpgradable,
  defaultServerName,
  locateFailure,
  recordHandshake,
  recordUpgrade,
  takeForUpgrade,
  upgradeConnOptions,
} from "../src/adapter-kit.ts";

/** One TLS connection's engine: a client, or a server with the listener's shared context. */
export type NodeTlsRole =
  | { side: "client"; hostname: string; options: ResolvedTlsOptions }
  | { side: "server"; context: tls.SecureContext; options: ResolvedTlsOptions };

/**
 * A server's certificate and key, parsed once for every connection of a listener.
 *
 * @example
 * ```ts
 * const context = serverContext(checkTlsOptions({ cert, key }, "tls", "server"));
 * ```
 */
export function serverContext(options: ResolvedTlsOptions): tls.SecureContext {
  return tls.createSecureContext({ cert: options.cert, key: options.key, ca: options.ca });
}

const HIGH_WATER_MARK = 65536;
/**
 * Deno's TLS socket keeps reading its stream while paused, its plaintext piling up inside it,
 * and once paused it may never report the TLS end that follows (a close_notify seen after
 * resume() went unreported, measured on Deno 2.9). So on Deno a pause holds the TCP reads and
 * leaves the TLS socket flowing: what it still emits is bounded by the ciphertext already fed.
 * Node's and Bun's TLS sockets pause, and their stream's backpressure reaches TCP (holding TCP
 * there as well cost Bun a tenth more CPU per GiB, measured).
 */
const PAUSE_HOLDS_TCP = "Deno" in globalThis;

const IS_BUN = "Bun" in globalThis;

/**
 * Bun's TLS socket, once its stream ended, ends without writing a close_notify (measured on Bun
 * 1.4: `end()` after the peer's FIN without one sends a bare FIN, where Node and Deno send the
 * alert). So on Bun the TCP EOF is not handed to it: the TLS layer takes what it holds, and if it
 * did not end by itself (a close_notify), the end is a truncation; the stream ends only when the
 * socket is handed over (`unwrap()`), for its new owner.
 */
const EOF_SILENCES_CLOSE_NOTIFY = IS_BUN;

/** The part of Deno's `node:tls` handle (its native `TLSWrap`) that `reportEndWhileStopped` touches. */
interface DenoTlsHandle {
  reading: boolean;
  readBuffer(ciphertext: Uint8Array): unknown;
  readStart(): unknown;
  readStop(): unknown;
}

/**
 * Deno's native TLS handle reports the peer's close_notify only while it is reading: a
 * close_notify that arrives while a paused reader holds it stopped (a `read()` / `for await`
 * reader stops it whenever its buffer is full) is dropped, and the stream never ends (measured
 * on Deno 2.9: every byte, then no 'end'). So on Deno the handed-over socket's handle takes each
 * ciphertext chunk reading, and goes back to stopped. Where the handle is not that shape, nothing
 * changes.
 */
function reportEndWhileStopped(socket: tls.TLSSocket): void {
  const handle = (socket as unknown as { _handle?: Partial<DenoTlsHandle> | null })._handle;
  if (handle == null || typeof handle.reading !== "boolean") return;
  const native = Object.getPrototypeOf(handle) as Partial<DenoTlsHandle>;
  const { readBuffer, readStart, readStop } = native;
  if (typeof readBuffer !== "function" || typeof readStart !== "function" || typeof readStop !== "function") return;
  handle.readBuffer = function (this: DenoTlsHandle, ciphertext: Uint8Array): unknown {
    if (this.reading) return readBuffer.call(this, ciphertext);
    readStart.call(this);
    try {
      return readBuffer.call(this, ciphertext);
    } finally {
      if (!this.reading) readStop.call(this);
    }
  };
}

/**
 * A runtime's `Buffer` chunk as a plain `Uint8Array`, as hangup hands out chunks on every runtime
 * (a `Buffer`'s `slice` shares memory instead of copying, its `toString` decodes). On Bun it is
 * the chunk itself given Uint8Array's prototype: reading `chunk.buffer` there copies a chunk Bun
 * keeps in its heap into an ArrayBuffer of its own. Elsewhere a view of it, which costs nothing.
 *
 * @example
 * ```ts
 * netSocket.on("data", (chunk: Buffer) => sink.data(plainChunk(chunk)));
 * ```
 */
export function plainChunk(chunk: Uint8Array): Uint8Array {
  if (IS_BUN) return Object.setPrototypeOf(chunk, Uint8Array.prototype) as Uint8Array;
  return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Bun's node:tls answers the peer's close_notify with its own at once and drops its write
 * side: a later write fails (EBADF) or never calls back. So after the peer's close_notify
 * hangup refuses writes itself (EPIPE), and ending sends only the FIN that is still due.
 */
const ANSWERS_CLOSE_NOTIFY = IS_BUN;

/** A write refused, or never confirmed, once Bun's TLS layer dropped its write side (ANSWERS_CLOSE_NOTIFY). */
function writeGoneError(): Error {
  return Object.assign(new Error("write EPIPE: Bun's TLS layer closed the write side at the peer's close_notify"), { code: "EPIPE" });
}

/**
 * `node:tls` over bytes hangup feeds (see the module comment).
 *
 * @example
 * ```ts
 * const engine = new NodeTlsEngine({ side: "client", hostname: "db.internal", options: tlsOptions });
 * const source = new TlsSource(tcpSource, engine, { side: "client", allowTruncation: false });
 * ```
 */
export class NodeTlsEngine implements TlsEngine {
  readonly #role: NodeTlsRole;
  #duplex: Duplex | undefined;
  #socket: tls.TLSSocket | undefined;
  /** Our TCP EOF reached the TLS layer: a TLS end from now on is caused by it (a truncation). */
  #eofConsumed = false;
  #endedByEof: boolean | undefined;
  #wire: TlsWire | undefined;
  #ending: Promise<void> | undefined;
  /** The TLS layer closed our write side by itself (ANSWERS_CLOSE_NOTIFY). */
  #writeGone = false;
  /** How to fail each write the TLS layer has not called back: at #writeGone it never will, they were not sent. */
  readonly #untaken = new Set<(err: unknown) => void>();
  /** How to fail each write not yet settled (taken, its ciphertext maybe still in our Duplex): at #onWireFailed. */
  readonly #unconfirmed = new Set<(err: unknown) => void>();
  /** A TCP write beneath failed: no TLS write can go out any more. */
  #wireFailure: unknown;
  #wireFailed = false;
  #listeners: { data: (chunk: Buffer) => void; end: () => void; error: (err: Error) => void } | undefined;
  /** TCP reads held while the core is paused (PAUSE_HOLDS_TCP). */
  #holding = false;
  /**
   * What was fed before the TLS socket started (see start()), in order; `null` is the TCP EOF.
   * Undefined once it started.
   */
  #early: (Uint8Array | null)[] | undefined = [];
  /** The TLS layer's readable side ended (its 'end'): reported once. */
  #ended = false;
  /** The TCP EOF came and was not handed to the TLS layer (EOF_SILENCES_CLOSE_NOTIFY). */
  #eofHeld = false;
  /** The TCP EOF is in the TLS layer's stream (pushed once). */
  #eofPushed = false;
  /** The TLS socket was handed over (`unwrap()`). */
  #detached = false;

  constructor(role: NodeTlsRole) {
    this.#role = role;
  }

  get native(): tls.TLSSocket | undefined {
    return this.#socket;
  }

  start(wire: TlsWire, events: TlsEvents): void {
    this.#wire = wire;
    const duplex = new Duplex({
      allowHalfOpen: true,
      autoDestroy: false,
      readableHighWaterMark: HIGH_WATER_MARK,
      read: () => {
        if (!this.#holding) wire.resume();
      },
      write: (chunk: Buffer, _encoding, done) =>
        void wire.write(chunk).then(() => done(), (err: unknown) => {
          this.#onWireFailed(err);
          done(err as Error);
        }),
      final: (done) => void wire.end().then(() => done(), done),
    });
    // Registered before the TLS socket's own 'end' listener (which hands the EOF to the TLS
    // layer), so the flag is set by the time the TLS layer can end because of it.
    duplex.on("end", () => (this.#eofConsumed = true));
    duplex.on("error", () => {});
    this.#duplex = duplex;

    const role = this.#role;
    const o = role.options;
    const alpn = o.alpnProtocols;
    let socket: tls.TLSSocket;
    if (role.side === "client") {
      const serverName = o.serverName ?? role.hostname;
      socket = tls.connect({
        socket: duplex,
        host: serverName,
        // SNI carries names only (RFC 6066); an IP is still checked against the certificate.
        servername: isIP(serverName) === 0 ? serverName : undefined,
        ca: o.ca,
        cert: o.cert,
        key: o.key,
        ALPNProtocols: alpn,
        rejectUnauthorized: o.rejectUnauthorized,
        allowHalfOpen: true,
      } as tls.ConnectionOptions);
      socket.once("secureConnect", () => events.handshake(this.#info(isIP(serverName) === 0 ? serverName : null)));
    } else {
      socket = new tls.TLSSocket(duplex as never, {
        isServer: true,
        secureContext: role.context,
        ALPNProtocols: alpn,
        requestCert: false,
        rejectUnauthorized: false,
      });
      socket.once("secure", () => {
        // What tls.Server does once a handshake is done: without it a standalone server socket
        // reports a TLS error after the handshake (a corrupt record, a fatal alert) only as an
        // internal '_tlsError' event, and the connection hangs (Node, Deno) or ends as a clean
        // close (Bun).
        (socket as tls.TLSSocket & { _releaseControl?: () => boolean })._releaseControl?.();
        const sni = (socket as tls.TLSSocket & { servername?: string | false }).servername;
        events.handshake(this.#info(typeof sni === "string" && sni !== "" ? sni : null));
      });
    }
    (socket as unknown as { allowHalfOpen: boolean }).allowHalfOpen = true;
    this.#socket = socket;

    // The TLS layer ends its readable side with push(null): for a close_notify while our TCP
    // EOF is still on its way, or because of that EOF. Seen here, at that moment.
    const push = socket.push;
    socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk === null && this.#endedByEof === undefined) this.#endedByEof = this.#eofConsumed;
      return push.call(socket, chunk, encoding);
    };
    const listeners = {
      data: (chunk: Buffer) => events.data(plainChunk(chunk)),
      end: () => {
        if (this.#ended) return;
        this.#ended = true;
        const closeNotify = !(this.#endedByEof ?? this.#eofConsumed);
        if (closeNotify && ANSWERS_CLOSE_NOTIFY) {
          this.#writeGone = true;
          // Writes the TLS layer had not taken before the close_notify never call back: they were not
          // sent. Those it took go out (their ciphertext is in our Duplex) or fail with the TCP write.
          for (const fail of this.#untaken) fail(writeGoneError());
          this.#untaken.clear();
        }
        events.end(closeNotify);
      },
      error: (err: Error) => events.error(err),
    };
    socket.on("data", listeners.data);
    socket.on("end", listeners.end);
    socket.on("error", listeners.error);
    this.#listeners = listeners;
    // Deno's TLS socket starts a tick after it is made: bytes fed before that (a STARTTLS client's
    // bytes read ahead) whose handshake fails at once leave it without its handle when it starts, and
    // it throws out of a tick, killing the process. So what comes before is fed once it started.
    process.nextTick(() => {
      const early = this.#early!;
      this.#early = undefined;
      if (duplex.destroyed) return; // the handshake was given up meanwhile
      for (const bytes of early) {
        if (bytes === null) this.feedEnd();
        else this.feed(bytes);
      }
    });
  }

  #info(serverName: string | null): TlsInfo {
    const socket = this.#socket!;
    const alpn = socket.alpnProtocol;
    const der = (socket.getPeerCertificate(true) as Partial<tls.DetailedPeerCertificate> | null)?.raw;
    return {
      protocol: socket.getProtocol() ?? "unknown",
      alpnProtocol: typeof alpn === "string" ? alpn : null,
      serverName,
      // A copy of our own: the runtime's Buffer may share a pool.
      peerCertificate: der && der.length > 0 ? new Uint8Array(der) : null,
    };
  }

  feed(bytes: Uint8Array): void {
    if (this.#early) return void this.#early.push(bytes);
    // A stream makes a Buffer of any other Uint8Array through its `.buffer` (a copy on Bun, see
    // plainChunk); the TCP chunk is ours alone, so on Bun it becomes the Buffer it was.
    if (!this.#duplex!.push(IS_BUN ? Object.setPrototypeOf(bytes, Buffer.prototype) : bytes)) this.#wire!.pause();
  }

  feedEnd(): void {
    if (this.#early) return void this.#early.push(null);
    // Handed over (unwrap()), the TLS socket's new owner meets the FIN as its stream's end.
    if (!EOF_SILENCES_CLOSE_NOTIFY || this.#detached) return this.#pushEof();
    this.#eofHeld = true;
    // What the TLS layer still holds comes first; a close_notify among it ends it by itself, as
    // one (the EOF is not in its stream, so that end cannot be taken for the EOF's).
    void this.drain().then(() => {
      // Handed over meanwhile: detach() gave the new owner the EOF.
      if (this.#ended || this.#detached || this.#socket!.destroyed) return;
      // Not all of it taken (the drain is bounded): the EOF goes behind it, so no byte comes after the end.
      if (this.#duplex!.readableLength > 0 || this.#socket!.readableLength > 0) return this.#pushEof();
      this.#endedByEof = true;
      this.#listeners?.end();
    });
  }

  #pushEof(): void {
    if (this.#eofPushed) return;
    this.#eofPushed = true;
    this.#duplex!.push(null);
  }

  /**
   * A TCP write failed (the peer's reset answering our bytes): every TLS write still waiting fails
   * with it, and so does every later one. Deno's node:tls calls back only the first write of those
   * with success and never the rest; Bun's only emits an error nobody hears.
   */
  #onWireFailed(err: unknown): void {
    if (this.#wireFailed) return;
    this.#wireFailed = true;
    this.#wireFailure = err;
    for (const fail of this.#unconfirmed) fail(err);
    this.#unconfirmed.clear();
    this.#untaken.clear();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#writeGone) return Promise.reject(writeGoneError());
    if (this.#wireFailed) return Promise.reject(this.#wireFailure);
    const socket = this.#socket!;
    const duplex = this.#duplex!;
    const unconfirmed = this.#unconfirmed;
    const untaken = this.#untaken;
    return new Promise<void>((resolveWrite, rejectWrite) => {
      const resolve = (): void => void (unconfirmed.delete(rejectWrite), resolveWrite());
      const reject = (err: unknown): void => void (unconfirmed.delete(rejectWrite), untaken.delete(rejectWrite), rejectWrite(err));
      unconfirmed.add(rejectWrite);
      untaken.add(rejectWrite);
      socket.write(bytes, (err) => {
        untaken.delete(rejectWrite);
        if (err) return reject(err);
        // Bun's TLS layer calls back once it took the plaintext, whatever the stream beneath holds:
        // its ciphertext may still wait in our Duplex. Resolve once that drained (backpressure);
        // a Duplex that ends or closes first did not send it.
        if (!duplex.writableNeedDrain) return resolve();
        const settle = (): void => {
          if (duplex.writableNeedDrain && !duplex.destroyed && !duplex.writableFinished) return; // a drain with more queued
          duplex.off("drain", settle);
          duplex.off("close", settle);
          duplex.off("finish", settle);
          if (duplex.writableLength === 0 && !duplex.errored) return resolve();
          reject(duplex.errored ?? Object.assign(new Error("Cannot write: the socket is closed"), { code: "ERR_SOCKET_CLOSED" }));
        };
        duplex.on("drain", settle);
        duplex.on("close", settle);
        duplex.on("finish", settle);
      });
    });
  }

  end(): Promise<void> {
    const socket = this.#socket!;
    if (this.#writeGone || this.#wireFailed) return (this.#ending ??= this.#wire!.end());
    return (this.#ending ??= new Promise<void>((resolve, reject) => {
      if (socket.destroyed) return reject(socket.errored ?? new Error("TLS socket destroyed"));
      const onError = (err: Error): void => reject(err);
      // Destroyed before it finished, with no error (Node 20, when the peer's FIN without
      // close_notify races our end): our close_notify and FIN did not go, and end() never calls back.
      const onClose = (): void => reject(socket.errored ?? new Error("TLS socket destroyed"));
      socket.once("error", onError);
      socket.once("close", onClose);
      socket.end(() => {
        socket.off("error", onError);
        socket.off("close", onClose);
        const duplex = this.#duplex!;
        // Deno's TLSSocket finishes without ending the stream beneath: end it, so `final` sends the FIN.
        if (duplex.writableEnded) return resolve();
        // Destroyed with the TLS socket once our close_notify went (Node 20, when the peer's FIN
        // without close_notify races our end): `final` never runs and end() never calls back, so
        // the FIN goes to TCP directly.
        if (duplex.destroyed) return void this.#wire!.end().then(resolve, reject);
        const onDuplexClose = (): void => void this.#wire!.end().then(resolve, reject);
        duplex.once("close", onDuplexClose);
        duplex.end(() => {
          duplex.off("close", onDuplexClose);
          resolve();
        });
      });
    }));
  }

  pause(): void {
    if (!PAUSE_HOLDS_TCP) return void this.#socket!.pause();
    this.#holding = true;
    this.#wire!.pause();
  }

  resume(): void {
    if (!PAUSE_HOLDS_TCP) this.#socket!.resume();
    if (this.#holding) {
      this.#holding = false;
      this.#wire!.resume();
    }
  }

  async drain(): Promise<void> {
    const socket = this.#socket!;
    const duplex = this.#duplex!;
    socket.resume();
    // Each turn lets the TLS layer take what is queued and emit what it decrypted; bounded,
    // because a TLS layer that stopped reading (it failed) never empties the queue.
    for (let turn = 0; turn < 50; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (duplex.readableLength === 0 && socket.readableLength === 0 && turn >= 1) return;
    }
  }

  destroy(): void {
    this.#socket?.destroy();
    this.#duplex?.destroy();
  }

  /**
   * On Deno the handed-over TLS socket is paused, and paused it may miss the TLS end if its
   * stream keeps being fed (PAUSE_HOLDS_TCP): so the TCP reads are held until its new owner first
   * reads, in flowing mode (`resume()`, a 'data' listener) or paused (`read()`, `for await`).
   * Until then the socket's `read` is wrapped, and put back at that first read.
   */
  #holdUntilRead(socket: tls.TLSSocket): void {
    this.#holding = true;
    this.#wire!.pause();
    const read = socket.read;
    const own = Object.prototype.hasOwnProperty.call(socket, "read");
    const release = (): void => {
      socket.off("resume", release);
      if (own) socket.read = read;
      else delete (socket as { read?: unknown }).read;
      if (!this.#holding) return;
      this.#holding = false;
      this.#wire!.resume();
    };
    socket.read = function (this: tls.TLSSocket, size?: number) {
      release();
      return read.call(this, size);
    };
    socket.once("resume", release);
  }

  detach(): void {
    this.#detached = true;
    const socket = this.#socket!;
    const listeners = this.#listeners!;
    socket.pause();
    if (PAUSE_HOLDS_TCP) {
      reportEndWhileStopped(socket);
      this.#holdUntilRead(socket);
    }
    // Elsewhere whoever takes the TLS socket over reads at its own pace: its stream asks for bytes.
    socket.off("data", listeners.data);
    socket.off("end", listeners.end);
    // Replaced, not removed: an 'error' with no listener would crash the process.
    socket.off("error", listeners.error);
    socket.on("error", () => {});
    const duplex = this.#duplex!;
    socket.once("finish", () => {
      if (!duplex.writableEnded) duplex.end();
    });
    socket.once("close", () => this.#wire!.close());
    // Its new owner meets the peer's FIN (EOF_SILENCES_CLOSE_NOTIFY).
    if (this.#eofHeld) this.#pushEof();
  }
}

/**
 * A listener's certificate, parsed once; a bad PEM is the caller's TypeError naming the option.
 *
 * @example
 * ```ts
 * const context = checkedServerContext(checkTlsOptions({ cert, key }, "tls", "server"), "tls");
 * ```
 */
export function checkedServerContext(options: ResolvedTlsOptions, name: string): tls.SecureContext {
  checkPemContents(options, name);
  try {
    return serverContext(options);
  } catch (err) {
    throw new TypeError(`${name}.cert and ${name}.key must be a PEM certificate and its private key: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Parses `cert`, `key` and `ca`, and checks that the key is the certificate's: a bad one is the
 * caller's TypeError naming the option, before any connection is used. (Deno's node:tls takes
 * a mismatched key without a word and then fails every handshake; Node's and Bun's throw a
 * plain Error from deep inside the handshake.)
 *
 * @example
 * ```ts
 * checkPemContents(checkTlsOptions({ cert, key: otherKey }, "tls", "client"), "tls"); // TypeError: tls.key is not the private key of tls.cert
 * ```
 */
export function checkPemContents(options: ResolvedTlsOptions, name: string): void {
  const parse = <T>(what: string, make: () => T): T => {
    try {
      return make();
    } catch (err) {
      throw new TypeError(`${name}.${what}: ${(err as Error).message}`, { cause: err });
    }
  };
  // One block at a time: a file may hold the key and its certificate chain together, and Deno's
  // parsers refuse more than the one object they read (Node's read the first).
  const blocks = (text: string, wanted: (label: string) => boolean): string[] =>
    [...text.matchAll(PEM_BLOCK)].filter((block) => wanted(block[1]!)).map((block) => block[0]);
  const isCert = (label: string): boolean => label === "CERTIFICATE";
  const certPem = options.cert === undefined ? undefined : blocks(options.cert, isCert)[0] ?? options.cert;
  const cert = certPem === undefined ? undefined : parse("cert must be a PEM certificate", () => new X509Certificate(certPem));
  if (cert !== undefined && options.key !== undefined) {
    const keyPem = blocks(options.key, (label) => label.endsWith("PRIVATE KEY"))[0] ?? options.key;
    const key = parse("key must be a PEM private key", () => createPrivateKey(keyPem));
    if (!cert.checkPrivateKey(key)) throw new TypeError(`${name}.key is not the private key of ${name}.cert`);
  }
  for (const roots of options.ca ?? []) {
    const each = blocks(roots, isCert);
    for (const root of each.length > 0 ? each : [roots]) parse("ca must be PEM certificates", () => new X509Certificate(root));
  }
}

/** One PEM block, its label captured. */
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * TLS over `tcp` as a client, handshake done (`initial`: ciphertext read ahead before an upgrade).
 * Rejects with `TlsHandshakeError`, or `signal.reason`, and releases `tcp`.
 *
 * @example
 * ```ts
 * const conn = createConn(await clientTls(tcpSource, "db.internal", tlsOptions), connOptions);
 * ```
 */
export async function clientTls(
  tcp: ConnSource,
  hostname: string,
  options: ResolvedTlsOptions,
  initial?: Uint8Array,
  signal?: AbortSignal,
): Promise<TlsSource> {
  const source = clientTlsSource(tcp, hostname, options, initial);
  await source.handshake(options.handshakeTimeout, signal);
  return source;
}

function clientTlsSource(tcp: ConnSource, hostname: string, options: ResolvedTlsOptions, initial: Uint8Array | undefined): TlsSource {
  return new TlsSource(tcp, new NodeTlsEngine({ side: "client", hostname, options }), {
    allowTruncation: options.allowTruncation,
    initial,
  });
}

/**
 * TLS over `tcp` as a server, handshake done. See `clientTls`.
 *
 * @example
 * ```ts
 * const source = await serverTls(tcpSource, context, tlsOptions);
 * ```
 */
export async function serverTls(
  tcp: ConnSource,
  context: tls.SecureContext,
  options: ResolvedTlsOptions,
  initial?: Uint8Array,
  signal?: AbortSignal,
): Promise<TlsSource> {
  const source = serverTlsSource(tcp, context, options, initial);
  await source.handshake(options.handshakeTimeout, signal);
  return source;
}

function serverTlsSource(
  tcp: ConnSource,
  context: tls.SecureContext,
  options: ResolvedTlsOptions,
  initial: Uint8Array | undefined,
): TlsSource {
  return new TlsSource(tcp, new NodeTlsEngine({ side: "server", context, options }), {
    side: "server",
    allowTruncation: options.allowTruncation,
    initial,
    startAtFirstByte: true,
  });
}

/** Connections a TLS listener keeps in their handshake (silent, or waiting for a slot) per `maxHandshakes`. */
const WAITING_PER_HANDSHAKE = 8;
/**
 * How long a TLS listener over its cap waits before it drops connections: Deno and Bun accept a
 * burst before they read any of it, and a client whose first bytes have not been read yet would
 * be taken for a silent one.
 */
const TRIM_AFTER_MS = 50;
/** What a connection waiting for a slot may send before its reads pause (a ClientHello is far less). */
const HELD_LIMIT = 65536;

/** One accepted connection, from its acceptance until its handshake is over. */
interface Handshake {
  /** Ends it: the connection is reset, and it never takes a slot. */
  stop(): void;
  /**
   * silent: no byte yet; waiting: bytes came, all slots taken; running: the TLS layer has them (a
   * slot is held until the handshake settles); stopped: ended by the listener before it ran.
   */
  state: "silent" | "waiting" | "running" | "stopped";
  /** What came while waiting for a slot, for the TLS layer once it has one. */
  held: Uint8Array[];
  heldBytes: number;
  /** Its reads paused: it sent more than HELD_LIMIT while it waited. */
  paused: boolean;
  admit(): void;
}

/**
 * A TLS listener's handshakes: `accept(sink, tcp, closed)` hands the connection to `sink` once its
 * handshake completed; one that fails or stalls past `handshakeTimeout`, or is still running
 * when `closed` aborts (the listener closed), is dropped. Handshakes run side by side, so none
 * blocks the accept loop. The TLS layer of a connection is made at its first byte, and at most
 * `maxHandshakes` run at once: a connection whose bytes come while all are running waits for one
 * to finish (its reads go on, paused only past HELD_LIMIT). `WAITING_PER_HANDSHAKE` times
 * `maxHandshakes` connections are kept: TRIM_AFTER_MS after that is passed the oldest that have not
 * sent a byte are dropped, or, when each has, the newest waiting. Throws a TypeError naming `name`
 * for a bad certificate or key.
 *
 * @example
 * ```ts
 * const acceptTls = tlsAcceptor(tlsOptions, "tls");
 * netServer.on("connection", (socket) => acceptTls(sink, nodeSource(socket), closing.signal));
 * ```
 */
export function tlsAcceptor(
  options: ResolvedTlsOptions,
  name: string,
): (sink: ListenerSink, tcp: ConnSource, closed: AbortSignal) => void {
  const context = checkedServerContext(options, name);
  const maxRunning = options.maxHandshakes;
  const maxKept = maxRunning * WAITING_PER_HANDSHAKE;
  // Every connection in its handshake, oldest first, all stopped at once when the listener closes:
  // one listener on `closed`, not one signal per handshake (Node's costs 4 KiB).
  const kept = new Set<Handshake>();
  const waiting: Handshake[] = [];
  let running = 0;
  let watching = false;
  /** The listener closed: every handshake is being stopped, and none may start. */
  let closing = false;
  let trimScheduled = false;

  const admitWaiting = (): void => {
    while (!closing && running < maxRunning && waiting.length > 0) waiting.shift()!.admit();
  };

  /**
   * Back under the cap: the oldest connections that never sent a byte make way (otherwise silent
   * connections, renewed every handshakeTimeout, kept every real client out); when each has sent
   * bytes, the newest waiting for a slot are dropped.
   */
  const trim = (): void => {
    trimScheduled = false;
    while (!closing && kept.size > maxKept) {
      let victim: Handshake | undefined;
      for (const handshake of kept) {
        if (handshake.state === "silent") {
          victim = handshake;
          break;
        }
      }
      if (victim === undefined) { for (const handshake of kept) if (handshake.state === "waiting") victim = handshake; }
      if (victim === undefined) return;
      kept.delete(victim);
      victim.stop();
    }
  };

  return (sink, tcp, closed) => {
    if (closed.aborted) return tcp.reset();
    if (!watching) {
      watching = true;
      closed.addEventListener("abort", () => {
        closing = true;
        for (const handshake of kept) handshake.stop();
      }, { once: true });
    }
    let inner: ConnSink | undefined;
    const source = serverTlsSource(tcp, context, options, undefined);
    const handshake: Handshake = {
      stop: () => {
        // A running one keeps its state: its slot goes when its handshake settles (below).
        if (handshake.state !== "running") {
          leaveQueue();
          handshake.state = "stopped";
        }
        source.stopHandshake();
      },
      state: "silent",
      held: [],
      heldBytes: 0,
      paused: false,
      admit: () => {
        // Reads resume before the held bytes go in: the TLS layer may pause them as it takes those.
        if (handshake.paused) {
          handshake.paused = false;
          tcp.resume();
        }
        handshake.state = "running";
        running++;
        const held = handshake.held;
        handshake.held = [];
        for (const chunk of held) inner!.data(chunk);
      },
    };
    kept.add(handshake);
    if (kept.size > maxKept && !trimScheduled) {
      trimScheduled = true;
      setTimeout(trim, TRIM_AFTER_MS);
    }
    const leaveQueue = (): void => {
      if (handshake.state !== "waiting") return;
      waiting.splice(waiting.indexOf(handshake), 1);
      handshake.state = "silent";
    };
    const start = tcp.start;
    tcp.start = (sinkOfTls) => {
      inner = sinkOfTls;
      start.call(tcp, {
        data: (chunk) => {
          if (handshake.state === "running") return inner!.data(chunk);
          if (handshake.state === "stopped") return;
          handshake.held.push(chunk);
          handshake.heldBytes += chunk.length;
          if (handshake.state === "silent") {
            if (running < maxRunning) return handshake.admit();
            handshake.state = "waiting";
            waiting.push(handshake);
          }
          // Reads go on while it waits (a FIN or a reset is seen), unless it sends too much.
          if (handshake.heldBytes > HELD_LIMIT && !handshake.paused) {
            handshake.paused = true;
            tcp.pause();
          }
        },
        end: (info) => (leaveQueue(), inner!.end(info)),
        error: (err) => (leaveQueue(), inner!.error(err)),
        closed: () => (leaveQueue(), inner!.closed()),
      });
    };
    source.handshake(options.handshakeTimeout)
      .then(() => sink.connection(source), () => {})
      .finally(() => {
        kept.delete(handshake);
        leaveQueue();
        if (handshake.state === "running") {
          running--;
          admitWaiting();
        }
      });
  };
}

/**
 * Options of `startTls`: TlsOptions, which end of the handshake this side plays
 * (default "client"; "server" needs `cert` and `key`), and the new connection's ConnOptions.
 *
 * @example
 * ```ts
 * const secure = await startTls(conn, { side: "server", cert, key, idleTimeout: 30_000 });
 * ```
 */
export type StartTlsOptions = ConnOptions & ((TlsOptions & { side?: "client" | undefined }) | (ServerTlsOptions & { side: "server" }));

/**
 * `startTls` for any adapter: checks the options, and that `conn` is over one of the adapter's
 * sockets (`own`: else a `TypeError` naming it, and `conn` is left as it was), unwraps `conn`
 * (its read-ahead bytes go to the TLS layer), takes its socket over with `tcpOf`, runs the handshake.
 *
 * @example
 * ```ts
 * const own = { is: (native: unknown): native is MySocket => native === socket, name: "MySocket" };
 * export const startTls = (conn: Conn, options?: StartTlsOptions) => upgradeToTls(conn, options, own, (native) => new MySource(native));
 * ```
 */
export async function upgradeToTls<Native>(
  conn: Conn,
  options: StartTlsOptions | undefined,
  own: { is(native: unknown): native is Native; name: string },
  tcpOf: (native: Native, remote: Addr) => ConnSource,
): Promise<Conn<tls.TLSSocket>> {
  const o = checkOptionsObject(options, "options");
  const side = o.side ?? "client";
  if (side !== "client" && side !== "server") throw new TypeError(`options.side must be "client" or "server", got ${describe(side)}`);
  const tlsOptions = checkTlsOptions(o, "options", side, true);
  const connOptions = upgradeConnOptions(conn, o as ConnOptions);
  resolveConnOptions(connOptions);
  // Checked before unwrap(), which would consume a connection this adapter cannot upgrade.
  const notOwn = (): TypeError => new TypeError(`conn must be a plaintext hangup Conn over a ${own.name} (from this adapter)`);
  checkUpgradable(conn, own.is, notOwn);
  const context = side === "server" ? checkedServerContext(tlsOptions, "options") : undefined;
  if (side === "client") checkPemContents(tlsOptions, "options");
  // A command written without awaiting right before ("STARTTLS\r\n") goes out first: unwrap()
  // refuses writes not yet handed to the socket. If the connection failed, the handshake says so.
  // The wait counts as handshake time, and the signal ends it; conn is consumed only after it.
  const remote = conn.remoteAddr;
  let source: TlsSource;
  try {
    const { buffered, native } = await takeForUpgrade(conn, own.is, notOwn, tlsOptions.handshakeTimeout, connOptions.signal);
    const tcp = tcpOf(native, remote);
    source = side === "client"
      ? clientTlsSource(tcp, tlsOptions.serverName ?? defaultServerName(conn), tlsOptions, buffered)
      : serverTlsSource(tcp, context!, tlsOptions, buffered);
    // serve()'s shutdown resets the connection it holds: here, the handshake that consumed it.
    const handshakeOver = recordHandshake(conn, () => source.stopHandshake());
    try {
      await source.handshake(tlsOptions.handshakeTimeout, connOptions.signal);
    } finally {
      handshakeOver();
    }
  } catch (err) {
    throw locateFailure(err, side === "client" ? "start TLS" : "accept", remote, connOptions.signal);
  }
  // Its native, which unwrap() hands out, is the node:tls socket over our TCP source.
  const upgraded = createConn(source, connOptions) as Conn<tls.TLSSocket>;
  recordUpgrade(conn, upgraded);
  return upgraded;
}

/**
 * node:tls as the adapter kit's TLS hooks (`connectWith` / `listenWith`): hangup's Node, Deno
 * and Bun adapters all run it over their own TCP source.
 *
 * @example
 * ```ts
 * export const connect = (options: ConnectOptions) => connectWith(options, { ...steps, tls: nodeTlsHooks });
 * ```
 */
export const nodeTlsHooks: TlsHooks = {
  client: (tcp, serverName, options, signal) => clientTls(tcp, serverName, options, undefined, signal),
  checkClient: (options) => checkPemContents(options, "tls"),
  server: (options) => tlsAcceptor(options, "tls"),
};
