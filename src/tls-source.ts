import { addAbortListener, removeAbortListener } from "./abort-listeners.ts";
import { SocketClosedError, SocketError, TlsHandshakeError, TlsTruncatedError } from "./errors.ts";
import { setLongTimeout } from "./long-timeout.ts";
import type { ConnSink, ConnSource } from "./source.ts";
import type { Addr, TlsInfo } from "./types.ts";

/**
 * What a TLS engine asks of the TCP connection beneath it (hangup's own `ConnSource`).
 *
 * @example
 * ```ts
 * duplex._write = (chunk, _, done) => wire.write(chunk).then(() => done(), done);
 * ```
 */
export interface TlsWire {
  /** Send ciphertext. */
  write(bytes: Uint8Array): Promise<void>;
  /** Send the TCP FIN (after a close_notify the engine wrote). */
  end(): Promise<void>;
  /** The engine holds enough ciphertext: stop reading TCP. */
  pause(): void;
  /** Read TCP again. */
  resume(): void;
  /** Close the TCP connection (after the handed-out TLS socket closed). */
  close(): void;
}

/**
 * What a TLS engine reports. Calls may come synchronously from `feed`/`feedEnd`.
 *
 * @example
 * ```ts
 * tlsSocket.on("data", (b) => events.data(b));
 * ```
 */
export interface TlsEvents {
  /** The handshake completed. */
  handshake(info: TlsInfo): void;
  /** Plaintext from the peer, in order. */
  data(chunk: Uint8Array): void;
  /**
   * The TLS stream ended: `closeNotify` true when the peer's close_notify ended it before
   * the engine consumed the TCP end fed with `feedEnd`, false when that TCP end ended it.
   */
  end(closeNotify: boolean): void;
  /** The TLS layer failed (a bad certificate, a bad record, an alert); the runtime's error. */
  error(err: unknown): void;
}

/**
 * A runtime's TLS layer, run over bytes hangup feeds it: the runtime-specific half of
 * `TlsSource`. It never touches a socket; ciphertext goes out through `TlsWire`.
 *
 * @example
 * ```ts
 * const source = new TlsSource(tcpSource, myEngine, { allowTruncation: false });
 * await source.handshake(10_000);
 * const conn = createConn(source);
 * ```
 */
export interface TlsEngine {
  /** What `Conn.unwrap()` hands out: the runtime's TLS socket. */
  readonly native: unknown;
  /** Begin the handshake (a client sends its hello now). Called once, before any feed. */
  start(wire: TlsWire, events: TlsEvents): void;
  /** Ciphertext from the peer, in order. */
  feed(bytes: Uint8Array): void;
  /** The peer's TCP FIN, after every byte fed. */
  feedEnd(): void;
  /** Encrypt and send; resolves once the wire accepted the ciphertext. */
  write(bytes: Uint8Array): Promise<void>;
  /** close_notify, then the wire's end (FIN). */
  end(): Promise<void>;
  /** Stop reporting plaintext (the engine then pauses the wire as its buffers fill). */
  pause(): void;
  resume(): void;
  /** Resolves once every byte fed so far was processed and its plaintext reported (the engine flows meanwhile). */
  drain(): Promise<void>;
  /** Drop everything now. */
  destroy(): void;
  /** Stop reporting, leave the TLS socket usable by whoever holds `native`. */
  detach(): void;
}

type Pending = { kind: "data"; chunk: Uint8Array } | { kind: "end"; truncated: boolean } | { kind: "error"; err: unknown } | {
  kind: "closed";
};

const UNSET = Symbol("unset");
/** Plaintext a connection waiting to be accepted may hold: past it the engine is paused until `start`. */
const PENDING_LIMIT = 256 * 1024;

/**
 * TLS over a TCP `ConnSource`, as a `ConnSource`: hangup keeps the TCP socket (and its
 * FIN/RST detection) and runs the runtime's TLS layer over the bytes it reads. So it knows
 * what the runtimes' TLS sockets hide: a TLS end before the TCP FIN is a close_notify
 * (`eof`), one caused by the FIN is a truncation (`TlsTruncatedError`), and a reset is a
 * TCP fact (`ConnectionResetError`), never either.
 *
 * @example
 * ```ts
 * import { createConn, TlsSource } from "hangup/core";
 * const source = new TlsSource(tcpSource, engine, { allowTruncation: false, initial: readAhead });
 * await source.handshake(10_000); // rejects with TlsHandshakeError
 * const conn = createConn(source);
 * ```
 */
export class TlsSource implements ConnSource {
  readonly #inner: ConnSource;
  readonly #engine: TlsEngine;
  readonly #allowTruncation: boolean;
  readonly #initial: Uint8Array | undefined;
  /** How a handshake failure's message begins: "Cannot connect", "Cannot start TLS" (a client's upgrade) or "Cannot accept". */
  readonly #failed: string;
  #info: TlsInfo | undefined;
  #sink: ConnSink | undefined;
  /** Events before `start` (the peer may speak before the application accepts). */
  #pending: Pending[] = [];
  /** Plaintext bytes in `#pending`: past `PENDING_LIMIT` the engine is paused until `start`. */
  #pendingBytes = 0;
  #handshake: { resolve: () => void; reject: (err: unknown) => void; stop: () => void } | undefined;
  #tcpEnded = false;
  /** The TCP error (a reset) waiting for the engine to hand over the plaintext before it. */
  #tcpError: unknown = UNSET;
  /** end/error reported outward: later TLS events are moot. */
  #finished = false;
  /** `destroy()` or `reset()` was called: the TLS layer, destroyed, will report no end to wait for. */
  #droppedByUs = false;
  #innerClosed = false;
  /** Wake the writes that failed before TCP said why (see #tcpFailure). */
  #awaitingTcpNews: (() => void)[] | undefined;
  #wireError: unknown = UNSET;
  #detached = false;
  /**
   * The core asked to pause: the engine is paused when it next reports plaintext, so what is
   * held stays under the high-water mark plus what the TLS layer decrypts of one TCP read.
   */
  #pauseAsked = false;
  #enginePaused = false;
  /** The engine starts at the peer's first byte (a server's): until then the connection has no TLS layer. */
  readonly #lazy: boolean;
  #engineStarted = false;

  constructor(
    inner: ConnSource,
    engine: TlsEngine,
    options: {
      allowTruncation: boolean;
      initial?: Uint8Array | undefined;
      side?: "client" | "server" | undefined;
      /** A server's engine (with no `initial` bytes) is made at the client's first byte, not before. */
      startAtFirstByte?: boolean | undefined;
    },
  ) {
    this.#inner = inner;
    this.#engine = engine;
    this.#allowTruncation = options.allowTruncation;
    this.#initial = options.initial;
    this.#lazy = options.startAtFirstByte === true && options.side === "server" && !(options.initial && options.initial.length > 0);
    // `initial` is what a plaintext connection read ahead: this is startTls's upgrade.
    this.#failed = options.side === "server" ? "Cannot accept" : options.initial !== undefined ? "Cannot start TLS" : "Cannot connect";
  }

  get native(): unknown {
    return this.#engine.native;
  }

  get tls(): TlsInfo | undefined {
    return this.#info;
  }

  get localAddr(): Addr {
    return this.#inner.localAddr;
  }

  get remoteAddr(): Addr {
    return this.#inner.remoteAddr;
  }

  /**
   * Starts TCP and the handshake; resolves once it completed. Rejects with `TlsHandshakeError`
   * (and releases the socket) if it fails, the peer leaves, `timeout` ms pass (0: never) or `signal` aborts.
   */
  handshake(timeout: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let cancelTimer: (() => void) | undefined;
      const onAbort = (): void => fail(signal!.reason);
      const done = (): void => {
        this.#handshake = undefined;
        cancelTimer?.();
        if (signal) removeAbortListener(signal, onAbort);
      };
      const fail = (err: unknown, reset = false): void => {
        done();
        if (reset) this.reset();
        else this.destroy();
        reject(err);
      };
      this.#handshake = {
        resolve: () => (done(), resolve()),
        reject: fail,
        stop: () => fail(new SocketClosedError(`${this.#failed}: the connection was reset during the TLS handshake`), true),
      };
      if (timeout > 0) {
        cancelTimer = setLongTimeout(
          () => fail(new TlsHandshakeError(`${this.#failed}: the TLS handshake did not finish within ${timeout} ms`)),
          timeout,
        );
      }
      if (signal) {
        if (signal.aborted) return fail(signal.reason);
        addAbortListener(signal, onAbort);
      }
      if (!this.#lazy && !this.#startEngine()) return;
      this.#inner.start(this.#innerSink());
    });
  }

  /** Starts the runtime's TLS layer; false when it refused (the handshake has failed then). */
  #startEngine(): boolean {
    this.#engineStarted = true;
    try {
      this.#engine.start(this.#wire(), this.#events());
      if (this.#initial && this.#initial.length > 0) this.#engine.feed(this.#initial);
      return true;
    } catch (err) {
      // The runtime's TLS layer refused to start (a certificate it cannot load): release TCP.
      this.#handshake?.reject(handshakeError(err, this.#failed));
      return false;
    }
  }

  /**
   * Ends a running handshake at once: the TCP connection is reset and `handshake()` rejects
   * with `SocketClosedError`. Nothing happens once the handshake is over.
   *
   * @example
   * ```ts
   * const handshake = tlsSource.handshake(10_000);
   * shutdown.addEventListener("abort", () => tlsSource.stopHandshake());
   * await handshake; // SocketClosedError: "Cannot accept: the connection was reset during the TLS handshake"
   * ```
   */
  stopHandshake(): void {
    this.#handshake?.stop();
  }

  #wire(): TlsWire {
    const inner = this.#inner;
    return {
      write: (bytes) =>
        inner.write(bytes).catch((err: unknown) => {
          if (this.#wireError === UNSET) this.#wireError = err;
          throw err;
        }),
      end: () => inner.closeWrite(),
      pause: () => inner.pause(),
      resume: () => inner.resume(),
      close: () => void inner.close().catch(() => inner.destroy()),
    };
  }

  #events(): TlsEvents {
    return {
      handshake: (info) => {
        this.#info = info;
        this.#handshake?.resolve();
      },
      data: (chunk) => {
        if (this.#pauseAsked && !this.#enginePaused) {
          this.#enginePaused = true;
          this.#engine.pause();
        }
        this.#report({ kind: "data", chunk });
      },
      end: (closeNotify) => {
        if (this.#tcpError !== UNSET) return; // a reset is reported, whatever the TLS layer made of it
        if (this.#wireError !== UNSET && !this.#tcpEnded) {
          // Node's TLS layer ends its read side by itself when a TCP write fails: no close_notify
          // came. A write that met the peer's reset is that reset (SPEC 2); another failure
          // leaves the stream without an authenticated end.
          const code = (this.#wireError as { code?: unknown } | null)?.code;
          if (code === "ECONNRESET") return this.#finish({ kind: "error", err: this.#wireError });
          return this.#finish({ kind: "end", truncated: true }, this.#wireError);
        }
        this.#finish({ kind: "end", truncated: !closeNotify });
      },
      error: (err) => {
        if (this.#handshake) return this.#handshake.reject(handshakeError(err, this.#failed));
        if (this.#tcpError !== UNSET) return;
        // After the TCP FIN, a TLS layer that cannot finish (a record cut in half) is a truncation too.
        if (this.#tcpEnded) return this.#finish({ kind: "end", truncated: true }, err);
        this.#finish({ kind: "error", err: tlsLayerError(err) });
      },
    };
  }

  #innerSink(): ConnSink {
    return {
      data: (chunk) => {
        if (!this.#engineStarted && !this.#startEngine()) return;
        this.#engine.feed(chunk);
      },
      end: () => {
        const handshake = this.#handshake;
        if (handshake && !this.#engineStarted) {
          return handshake.reject(new TlsHandshakeError(`${this.#failed}: the peer closed the connection during the TLS handshake`));
        }
        if (handshake) {
          // The bytes right before the FIN may say why (an alert, a plaintext server's answer): the
          // TLS layer reads them first, and its error, if any, is the one reported.
          void this.#engine.drain().then(() => {
            if (this.#handshake === handshake) {
              handshake.reject(new TlsHandshakeError(`${this.#failed}: the peer closed the connection during the TLS handshake`));
            } else if (this.#info !== undefined) {
              // The handshake completed from those bytes: the FIN is the connection's, as below.
              this.#tcpEnd();
            }
          });
          return;
        }
        this.#tcpEnd();
      },
      error: (err) => {
        if (this.#handshake) return this.#handshake.reject(handshakeError(err, this.#failed));
        if (this.#tcpError !== UNSET) return;
        this.#tcpError = err;
        this.#tcpNews();
        // The plaintext of every record that arrived before the reset is yielded first.
        // Then the TLS layer goes: Bun keeps a TLS socket whose stream failed, and everything it
        // reaches, until it is destroyed (a leak of about 8 KB per connection the peer reset).
        void this.#engine.drain().then(() => {
          this.#finish({ kind: "error", err });
          this.#engine.destroy();
        });
      },
      closed: () => {
        this.#innerClosed = true;
        this.#tcpNews();
        if (this.#handshake) {
          return this.#handshake.reject(new TlsHandshakeError(`${this.#failed}: the connection closed during the TLS handshake`));
        }
        // After a FIN or a reset, `closed` waits for the end or error the TLS layer is still working out
        // (Bun reports a FIN at the close that follows our own reset, too).
        if (this.#finished || this.#droppedByUs || (this.#tcpError === UNSET && !this.#tcpEnded)) this.#report({ kind: "closed" });
      },
    };
  }

  /** The peer's TCP FIN, after the handshake: the TLS layer works out what it ends (close_notify or truncation). */
  #tcpEnd(): void {
    this.#tcpEnded = true;
    this.#tcpNews();
    this.#engine.feedEnd();
  }

  #finish(event: Pending & { kind: "end" | "error" }, cause?: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    if (event.kind === "error" && (event.err as { code?: unknown } | null)?.code === "EPIPE") {
      // The core reads EPIPE as "the peer's FIN came, then our write met its RST" and ends the
      // read side cleanly (SPEC 2). Over TLS a FIN is clean only behind a close_notify, which
      // the TLS layer did not report: a truncation.
      cause = event.err;
      event = { kind: "end", truncated: true };
    }
    if (event.kind === "end" && event.truncated && !this.#allowTruncation) {
      this.#report({ kind: "error", err: new TlsTruncatedError(undefined, cause === undefined ? undefined : { cause }) });
    } else {
      this.#report(event);
    }
    if (this.#innerClosed) this.#report({ kind: "closed" });
    this.#tcpNews(); // a write that failed as the peer left waits for this report
  }

  #report(event: Pending): void {
    if (this.#detached) return;
    const sink = this.#sink;
    if (!sink) {
      this.#pending.push(event);
      // A connection waiting to be accepted holds back its peer, as over TCP (the kernel's buffers do there).
      if (event.kind === "data" && (this.#pendingBytes += event.chunk.length) >= PENDING_LIMIT && !this.#enginePaused) {
        this.#enginePaused = true;
        this.#engine.pause();
      }
      return;
    }
    deliver(sink, event);
  }

  start(sink: ConnSink): void {
    this.#sink = sink;
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    for (const event of pending) deliver(sink, event);
    // Paused while it waited: reading goes on unless the core has just asked for a pause itself.
    if (this.#enginePaused && !this.#pauseAsked) {
      this.#enginePaused = false;
      this.#engine.resume();
    }
  }

  pause(): void {
    if (this.#pauseAsked) return;
    this.#pauseAsked = true;
  }

  resume(): void {
    this.#pauseAsked = false;
    if (!this.#enginePaused) return;
    this.#enginePaused = false;
    this.#engine.resume();
  }

  async write(bytes: Uint8Array): Promise<void> {
    try {
      await this.#engine.write(bytes);
    } catch (err) {
      throw await this.#tcpFailure(err);
    }
  }

  async closeWrite(): Promise<void> {
    try {
      await this.#engine.end();
    } catch (err) {
      throw await this.#tcpFailure(err);
    }
  }

  #tcpNews(): void {
    const waiting = this.#awaitingTcpNews;
    this.#awaitingTcpNews = undefined;
    if (waiting) { for (const wake of waiting) wake(); }
  }

  /**
   * The TCP failure beneath (a write's, or the reset reads met) says more than the TLS layer's
   * "stream destroyed". The TLS layer may fail a write a moment before TCP reports the reset that
   * caused it, and the peer's end is reported once the TLS layer gave up what it held: the write
   * waits for both, 100 ms at most, so its failure never comes before `ended` says how the peer
   * left (a handler that closes on it would make that `local`).
   */
  async #tcpFailure(err: unknown): Promise<unknown> {
    const until = Date.now() + 100;
    // TCP closed with no end or reset: nothing more comes (the close is reported as it is).
    while (!this.#finished && !this.#droppedByUs && !(this.#innerClosed && this.#tcpError === UNSET && !this.#tcpEnded)) {
      const left = until - Date.now();
      if (left <= 0) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        (this.#awaitingTcpNews ??= []).push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.#wireError !== UNSET ? this.#wireError : this.#tcpError !== UNSET ? this.#tcpError : err;
  }

  async close(): Promise<void> {
    try {
      await this.#engine.end();
    } catch {
      // The graceful part failed (the peer is gone); the TCP close below still releases.
    }
    await this.#inner.close();
  }

  destroy(): void {
    this.#droppedByUs = true;
    this.#engine.destroy();
    this.#inner.destroy();
  }

  /** The TCP source's (`ConnSource.linger`): after close_notify and FIN, the TCP end lingers. Made when asked, at a close. */
  get linger(): (() => void) | undefined {
    const inner = this.#inner;
    return inner.linger ? () => inner.linger!() : undefined;
  }

  reset(): void {
    this.#droppedByUs = true;
    this.#engine.destroy();
    this.#inner.reset();
  }

  detach(): void {
    this.#detached = true;
    this.#engine.detach();
  }

  setKeepAlive(delay: number | false): void {
    this.#inner.setKeepAlive?.(delay);
  }

  setNoDelay(noDelay: boolean): void {
    this.#inner.setNoDelay?.(noDelay);
  }

  setRef(referenced: boolean): void {
    this.#inner.setRef?.(referenced);
  }
}

function deliver(sink: ConnSink, event: Pending): void {
  switch (event.kind) {
    case "data":
      return sink.data(event.chunk);
    case "end":
      return event.truncated ? sink.end({ truncated: true }) : sink.end();
    case "error":
      return sink.error(event.err);
    case "closed":
      return sink.closed();
  }
}

/** The runtime's handshake failure, typed; its certificate code kept where it has one. */
function handshakeError(err: unknown, failed: string): TlsHandshakeError {
  if (err instanceof TlsHandshakeError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  // SPEC: the runtime's certificate code, else ERR_TLS_HANDSHAKE. The runtime's other codes
  // (ERR_SSL_WRONG_VERSION_NUMBER for a plaintext server) stay on the cause.
  const tlsCode = typeof code === "string" && isCertificateCode(code) ? code : "ERR_TLS_HANDSHAKE";
  return new TlsHandshakeError(`${failed}: the TLS handshake failed: ${tlsReason(errorText(err))}`, { code: tlsCode, cause: err });
}

/**
 * A certificate's verification code: OpenSSL's X509 names (`CERT_HAS_EXPIRED`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`), the TLS layer's
 * `ERR_TLS_CERT_ALTNAME_INVALID`, and the peer's alerts about a certificate
 * (`ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE`); not an errno (`ECONNRESET`) nor another TLS failure.
 */
function isCertificateCode(code: string): boolean {
  if (code.startsWith("ERR_")) return code.startsWith("ERR_TLS_CERT") || code.includes("CERTIFICATE") || code.endsWith("_UNKNOWN_CA");
  return /^[A-Z0-9]+(_[A-Z0-9]+)+$/.test(code);
}

/**
 * A TLS error after the handshake (a corrupt record, a fatal alert), its message cut to the TLS
 * library's reason; any other error as it is.
 */
function tlsLayerError(err: unknown): unknown {
  const text = errorText(err);
  if (!OPENSSL_ENTRY.test(text)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const tlsCode = typeof code === "string" && code !== "" ? code : "ERR_TLS";
  return new SocketError(`Cannot read: the TLS layer failed: ${tlsReason(text)}`, tlsCode, { cause: err });
}

/**
 * An OpenSSL error-queue entry ("...:error:0A0000F4:SSL routines:<function>:unexpected message:<file>.c:396:\n")
 * says the reason in its fifth field; the rest is the library's source position. BoringSSL (Bun)
 * names it in capitals ("error:1000008b:SSL routines:OPENSSL_internal:DECRYPTION_FAILED_OR_BAD_RECORD_MAC").
 */
const OPENSSL_ENTRY = /error:[0-9a-f]+:[^:]*:[^:]*:([^:\n]+)/i;

function errorText(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === "string" && message !== "" ? message : String(err);
}

/** The reason a TLS library's error text gives, in words. */
function tlsReason(text: string): string {
  const reason = OPENSSL_ENTRY.exec(text)?.[1];
  if (reason === undefined) return text.trim();
  return /^[A-Z0-9_]+$/.test(reason) ? reason.toLowerCase().replaceAll("_", " ") : reason.trim();
}
