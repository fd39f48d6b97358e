/**
 * hangup on Cloudflare Workers (workerd): `connect()` of `cloudflare:sockets`, made a
 * `Conn` by `fromStreams`. Workers cannot listen, so there is no `listen` (and no `wrap`).
 *
 * workerd reports a reset as a plain `Error("Network connection lost.")` and still
 * resolves `socket.closed`; the adapter reads that message as a reset, which is what it
 * is from the peer's side. It cannot tell a reset from other losses of the connection.
 *
 * TLS is workerd's own (`secureTransport`): it verifies the server against the CAs workerd
 * trusts (its configuration's `tlsOptions.trustedCertificates`, or the public ones), so
 * `tls.ca`, client certificates, ALPN and `rejectUnauthorized: false` are refused. Over
 * `connect({ tls })` workerd reports a FIN without close_notify (a truncation) and a reset
 * alike, as "Network connection lost.": both are `ConnectionResetError`, never `eof`. After
 * `startTls()` workerd reports a truncation as a clean end (docs/runtimes.md, "Cloudflare Workers (workerd)").
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
import { connect as socketsConnect, type Socket } from "cloudflare:sockets";
import {
  type Capabilities,
  checkConnectOptions,
  checkTlsOptions,
  type Conn,
  type ConnOptions,
  connOptionsOf,
  defineCapabilities,
  type Endpoint,
  fromStreams,
  type ResolvedTlsOptions,
  type Runtime,
  type StreamNative,
  TlsHandshakeError,
  type TlsOptions,
  toSocketError,
  withDeadline,
} from "../src/index.ts";
import { checkOptionsObject, resolveConnOptions } from "../src/options.ts";
import { checkUpgradable, locateFailure, recordUpgrade, takeForUpgrade, upgradeConnOptions } from "../src/adapter-kit.ts";

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
 * What Workers can do (docs/runtimes.md: "Cloudflare Workers (workerd)"): connect only, over TCP; no RST
 * (`reset()` closes the socket with a FIN, behind any write workerd still holds), no socket options; over TLS
 * a truncation reads as a reset (`connect`) or a clean end (`startTls`), never told apart.
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

/** Each plaintext connection's socket, by its writable (what `unwrap()` hands back), for `startTls`. */
const sockets = new WeakMap<WritableStream<Uint8Array>, Socket>();

/** workerd verifies against the CAs its configuration trusts and has no options for the rest. */
function checkWorkersTls(tls: ResolvedTlsOptions, name: string, hostname: string): void {
  const refuse = (option: string, why: string): never => {
    throw new TypeError(`${name}.${option} is not supported on Workers: ${why}`);
  };
  if (tls.ca) refuse("ca", "workerd trusts the CAs of its configuration (tlsOptions.trustedCertificates of the network service)");
  if (tls.cert) refuse("cert", "workerd has no client certificates");
  if (tls.alpnProtocols) refuse("alpnProtocols", "workerd offers no ALPN");
  if (!tls.rejectUnauthorized) refuse("rejectUnauthorized", "workerd always verifies the certificate");
  if (tls.serverName !== undefined && tls.serverName !== hostname) {
    refuse("serverName", "workerd sends and checks the hostname connected to");
  }
}

/**
 * With `secureTransport: "on"` workerd gives one error, "proxy request failed, cannot connect to
 * the specified address", for a refused connection and for every failed handshake alike.
 */
function tlsConnectError(err: unknown): TlsHandshakeError {
  const detail = err instanceof Error ? err.message : String(err);
  return new TlsHandshakeError(`Cannot connect: the TCP connection or its TLS handshake failed (workerd does not say which): ${detail}`, {
    cause: err,
  });
}

/**
 * Runs the handshake of `socket.startTls()` on the plaintext `socket`: resolves with the TLS
 * socket, or rejects with `TlsHandshakeError` (workerd gives one generic error for every
 * certificate failure) after closing it; `handshakeTimeout` bounds it.
 */
async function handshake(socket: Socket, tls: ResolvedTlsOptions, signal: AbortSignal | undefined): Promise<Socket> {
  const secure = socket.startTls();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const opened = new Promise<Socket>((resolve, reject) => {
    secure.opened.then(() => resolve(secure), (err: unknown) => {
      const detail = err instanceof Error ? err.message : String(err);
      reject(new TlsHandshakeError(`Cannot start TLS: the TLS handshake failed: ${detail}`, { cause: err }));
    });
    if (tls.handshakeTimeout > 0) {
      timer = setTimeout(
        () => reject(new TlsHandshakeError(`Cannot start TLS: the TLS handshake did not finish within ${tls.handshakeTimeout} ms`)),
        tls.handshakeTimeout,
      );
    }
  });
  try {
    return await withDeadline(opened, {
      timeout: 0,
      signal,
      cancel: () => void secure.close().catch(() => {}),
      discard: () => void secure.close().catch(() => {}),
    });
  } catch (err) {
    void secure.close().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** An IPv4 or IPv6 address rather than a host name. */
function isIpAddress(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.includes(":");
}

function connOf(socket: Socket, hostname: string, port: number, tls: boolean, options: ConnOptions): Conn<StreamNative> {
  if (!tls) sockets.set(socket.writable, socket);
  return fromStreams(
    {
      readable: socket.readable,
      writable: socket.writable,
      remoteAddr: { transport: "tcp", hostname, port },
      translateError,
      // workerd drops the socket when the request ends: close() keeps the request until the peer has our bytes.
      lingerInClose: true,
      // Aborting and cancelling its streams leaves workerd's socket open until the request ends.
      destroy: () => socket.close(),
      // workerd says neither the version nor anything else it negotiated.
      // SNI carries names only (RFC 6066): for an IP address there is none, as on the other runtimes.
      tls: tls
        ? { protocol: "TLS", alpnProtocol: null, serverName: isIpAddress(hostname) ? null : hostname, peerCertificate: null }
        : undefined,
    },
    options,
  );
}

/**
 * Connects over TCP (`hostname`, default `127.0.0.1`, and `port`) with
 * `cloudflare:sockets`, half-open allowed; with `tls`, TLS from the first byte (workerd's,
 * so `conn.tls.protocol` is just "TLS"). Rejects with `ConnectionRefusedError` or a
 * `SocketError` when the connection cannot be opened, `TlsHandshakeError` when the handshake
 * fails or outlasts `tls.handshakeTimeout`, `TimedOutError` after `timeout` ms,
 * `signal.reason`, or a TypeError/RangeError for bad options (Unix paths, and the TLS options
 * workerd has no counterpart for, are refused).
 *
 * @example
 * ```ts
 * import { connect } from "hangup/workerd";
 * const conn = await connect({ hostname: "127.0.0.1", port: 7000, timeout: 5000 });
 * const secure = await connect({ hostname: "db.example.com", port: 6380, tls: true });
 * ```
 */
export async function connect(options: WorkersConnectOptions): Promise<Conn<StreamNative>> {
  const { endpoint, timeout, tls, options: o } = checkConnectOptions(options);
  if (endpoint.transport !== "tcp") throw new TypeError("Workers connect over TCP only: give hostname and port, not path");
  if (tls) checkWorkersTls(tls, "tls", endpoint.hostname);
  if (o.signal?.aborted) throw o.signal.reason; // before dialing, as on every runtime
  // Plaintext as "starttls" so that startTls() can upgrade it. TLS as "on": after startTls() workerd
  // reports a FIN without close_notify as a clean end, with "on" as a lost connection.
  const socket = socketsConnect(
    { hostname: endpoint.hostname, port: endpoint.port },
    { allowHalfOpen: true, secureTransport: tls ? "on" : "starttls" },
  );
  const opened = socket.opened.catch((err: unknown) =>
    Promise.reject(tls ? tlsConnectError(err) : toSocketError(translateError(err), "connect"))
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const handshakeTimedOut = new Promise<never>((_, reject) => {
    if (tls && tls.handshakeTimeout > 0) {
      timer = setTimeout(
        () => reject(new TlsHandshakeError(`Cannot connect: the TLS handshake did not finish within ${tls.handshakeTimeout} ms`)),
        tls.handshakeTimeout,
      );
    }
  });
  try {
    await withDeadline(Promise.race([opened, handshakeTimedOut]), {
      timeout,
      signal: o.signal,
      cancel: () => void socket.close().catch(() => {}),
      discard: () => void socket.close().catch(() => {}),
    });
  } catch (err) {
    void socket.close().catch(() => {});
    throw locateFailure(err, "connect", endpoint, o.signal);
  } finally {
    clearTimeout(timer);
  }
  const ready = socket;
  return connOf(ready, endpoint.hostname, endpoint.port, tls !== undefined, connOptionsOf(o));
}

/**
 * The TLS options workerd has a counterpart for: it trusts the CAs of its own configuration,
 * always verifies, sends and checks the hostname connected to, and offers no client certificate
 * or ALPN (the others are refused with a TypeError when given anyway). `allowTruncation` is
 * taken, for portable code, and changes nothing: workerd reports a FIN without `close_notify`
 * as a reset (`connect`) or a clean end (`startTls`).
 *
 * @example
 * ```ts
 * const tls: WorkersTlsOptions = { handshakeTimeout: 5000 };
 * ```
 */
export type WorkersTlsOptions = Pick<TlsOptions, "serverName" | "allowTruncation" | "handshakeTimeout"> & {
  rejectUnauthorized?: true | undefined;
};

/**
 * Options of `connect` on Workers: TCP only (`hostname`, default `127.0.0.1`, and `port`),
 * `timeout`, the connection's options, and `tls` as far as workerd has it.
 *
 * @example
 * ```ts
 * const options: WorkersConnectOptions = { hostname: "db.example.com", port: 6380, tls: { handshakeTimeout: 5000 } };
 * ```
 */
export type WorkersConnectOptions = { hostname?: string | undefined; port: number; path?: undefined } & ConnOptions & {
  /** ms to wait for the connection; rejects with `TimedOutError`. */
  timeout?: number | undefined;
  /** TLS from the first byte: `true` for the defaults, or the options workerd honours. */
  tls?: true | WorkersTlsOptions | undefined;
};

/**
 * Options of `startTls` on Workers: the TLS options workerd has (`WorkersTlsOptions`), the new connection's ConnOptions,
 * and `side`, which can only be "client": Workers cannot accept connections.
 *
 * @example
 * ```ts
 * const options: StartTlsOptions = { handshakeTimeout: 5000, idleTimeout: 30_000 };
 * ```
 */
export type StartTlsOptions = WorkersTlsOptions & ConnOptions & { side?: "client" | undefined };

/**
 * Ends the read the plaintext conn left in flight (workerd's handshake stalls behind a pending
 * read) and counts the bytes it had brought. A server that waits for our ClientHello, as
 * STARTTLS servers do, sends none.
 */
async function endReadAhead(readable: ReadableStream<Uint8Array>): Promise<number> {
  const reader = readable.getReader();
  let count = 0;
  const pending = reader.read().then((r) => void (count += r.done ? 0 : r.value.length), () => {});
  await new Promise((resolve) => setTimeout(resolve, 0));
  await reader.cancel().catch(() => {});
  await pending;
  return count;
}

/**
 * Upgrades a plaintext `Conn` made by this adapter's `connect` to TLS as the client
 * (`socket.startTls()`), e.g. after SMTP's `STARTTLS` or Postgres' `SSLRequest`. `conn` is
 * consumed. Bytes hangup had read ahead cannot be handed to workerd's TLS layer: if the
 * server sent any before the handshake, the upgrade rejects with `TlsHandshakeError`
 * (such bytes are a protocol violation, or an injection). Rejects with `TlsHandshakeError`
 * on a failed or timed-out handshake, TypeError for bad options. The new connection keeps
 * `conn`'s options (`idleTimeout`, `writeTimeout`, `heartbeat`, `signal`, ...) unless `options`
 * set them.
 *
 * @example
 * ```ts
 * import { connect, startTls } from "hangup/workerd";
 * const plain = await connect({ hostname: "mail.example", port: 587 });
 * await plain.readUntil("\r\n"); // 220 greeting
 * await plain.write("STARTTLS\r\n");
 * await plain.readUntil("\r\n"); // 220 go ahead
 * const conn = await startTls(plain);
 * ```
 */
export async function startTls(conn: Conn, options?: StartTlsOptions): Promise<Conn<StreamNative>> {
  const o = checkOptionsObject(options, "options");
  if (o.side !== undefined && o.side !== "client") {
    throw new TypeError(`options.side must be "client" on Workers (they cannot accept connections), got ${String(o.side)}`);
  }
  const { side: _side, ...rest } = o;
  const tls = checkTlsOptions(rest, "options", "client", true);
  const connOptions = upgradeConnOptions(conn, rest as ConnOptions);
  resolveConnOptions(connOptions);
  // Checked before unwrap(), which would consume a connection this adapter cannot upgrade.
  const own = (native: unknown): native is StreamNative => {
    const streams = native as Partial<StreamNative> | null | undefined;
    return !!streams?.readable && !!streams.writable && sockets.has(streams.writable);
  };
  const notOwn = (): TypeError => new TypeError("conn must be a plaintext Conn made by this adapter's connect");
  checkUpgradable(conn, own, notOwn);
  const remote = conn.remoteAddr;
  if (remote.transport !== "tcp") throw notOwn();
  checkWorkersTls(tls, "options", remote.hostname);
  const { buffered, native } = await takeForUpgrade(conn, own, notOwn, tls.handshakeTimeout, connOptions.signal);
  const socket = sockets.get(native.writable)!;
  sockets.delete(native.writable);
  const early = buffered.length + (await endReadAhead(native.readable));
  const where: Endpoint = { transport: "tcp", hostname: remote.hostname, port: remote.port };
  if (early > 0) {
    void socket.close().catch(() => {});
    const refused = new TlsHandshakeError(
      `Cannot start TLS: the server sent ${early} bytes before the TLS handshake; workerd cannot hand them to its TLS layer`,
    );
    throw locateFailure(refused, "start TLS", where);
  }
  let secure: Socket;
  try {
    secure = await handshake(socket, tls, connOptions.signal);
  } catch (err) {
    throw locateFailure(err, "start TLS", where, connOptions.signal);
  }
  const upgraded = connOf(secure, remote.hostname, remote.port, true, connOptions);
  recordUpgrade(conn, upgraded);
  return upgraded;
}
