import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

const PEER_SCRIPT = fileURLToPath(new URL("../peer/peer.py", import.meta.url));

/** How the peer saw a stream end. */
export type PeerEnd = "eof" | "reset" | "timeout" | "count" | "epipe" | "truncated";

export interface Received {
  length: number;
  sha256: string;
  end: PeerEnd;
  data: Uint8Array;
  /** With `awaitFin`: when the TCP FIN behind the end (a TLS close_notify) came, in ms since the epoch (as `Date.now()`), or null if none came in time. */
  finAt?: number | null;
}

export interface Sent {
  sent: number;
  sha256: string;
  sendError?: string;
}

/** What to send: `data`, `text`, `size` random bytes, or `size` copies of the byte `fill`; then FIN, RST or close. */
type Send = {
  data?: Uint8Array;
  text?: string;
  size?: number;
  fill?: number;
  /** Over TLS, "forged_record" is a record that does not decrypt, the connection left open. */
  then?: "fin" | "rst" | "close" | "close_notify" | "forged_record";
  chunk?: number;
};

/** A certificate of test/fixtures/tls the peer presents as a TLS server. */
export type PeerCert = "server" | "expired" | "wrongname" | "selfsigned";

/** How the peer runs TLS over one of its TCP connections. */
export interface PeerTls {
  side: "server" | "client";
  /** Server: the certificate to present; default "server". */
  cert?: PeerCert | undefined;
  /** Client: verify the server against the test CA; default true. */
  verify?: boolean;
  /** Client: SNI and the name checked; default "127.0.0.1". */
  serverHostname?: string;
  alpn?: string[];
  /** Client: plaintext sent right before the ClientHello, in the same segment (a pipelined STARTTLS). */
  line?: string;
  timeoutMs?: number;
}

/** What the peer's TLS handshake gave: the version and ALPN, or why it failed. */
export interface PeerTlsResult {
  protocol?: string | undefined;
  alpn?: string | null | undefined;
  handshakeError?: string | undefined;
}

/**
 * The controllable raw-socket peer (test/peer/peer.py), one process per test.
 * It tells the truth about the wire: FIN is shutdown(SHUT_WR), RST is SO_LINGER 0.
 */
export class Peer {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { op: string; resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #buffer = "";

  /** @param prefix a command that runs the peer, e.g. `["ip", "netns", "exec", name]` */
  constructor(prefix: string[] = []) {
    const [command, ...args] = [...prefix, "python3", "-u", PEER_SCRIPT];
    this.#child = spawn(command!, args, { stdio: ["pipe", "pipe", "inherit"] });
    this.#child.stdout!.setEncoding("utf8");
    this.#child.stdout!.on("data", (text: string) => {
      this.#buffer += text;
      for (let nl = this.#buffer.indexOf("\n"); nl >= 0; nl = this.#buffer.indexOf("\n")) {
        const message = JSON.parse(this.#buffer.slice(0, nl)) as Record<string, unknown>;
        this.#buffer = this.#buffer.slice(nl + 1);
        const waiter = this.#pending.get(message.id as number);
        this.#pending.delete(message.id as number);
        if (typeof message.error === "string") waiter?.reject(new Error(`peer ${waiter.op}: ${message.error}`));
        else waiter?.resolve(message);
      }
    });
    this.#child.on("error", (err) => {
      for (const waiter of this.#pending.values()) waiter.reject(err);
    });
  }

  command(op: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { op, resolve, reject });
      this.#child.stdin!.write(JSON.stringify({ id, op, ...args }) + "\n");
    });
  }

  /** Listens on 127.0.0.1 (or `host`, or a Unix path); returns the listener handle and port. */
  async listen(
    args: { path?: string; host?: string; backlog?: number; rcvbuf?: number } = {},
  ): Promise<{ listener: number; port: number }> {
    const r = await this.command("listen", args);
    return { listener: r.listener as number, port: r.port as number };
  }

  async accept(listener: number): Promise<number> {
    return (await this.command("accept", { listener })).conn as number;
  }

  async connect(args: { port?: number; host?: string; path?: string; rcvbuf?: number }): Promise<number> {
    return (await this.command("connect", args)).conn as number;
  }

  /** `count` connections opened one right after the other, each sending `data` once connected: their handles. */
  async burst(args: { port: number; count: number; data: Uint8Array }): Promise<number[]> {
    const { data, ...rest } = args;
    return (await this.command("burst", { ...rest, data: Buffer.from(data).toString("base64") })).conns as number[];
  }

  async send(conn: number, what: Send): Promise<Sent> {
    const { data, ...rest } = what;
    const args = data ? { ...rest, data: Buffer.from(data).toString("base64") } : rest;
    return (await this.command("send", { conn, ...args })) as unknown as Sent;
  }

  async drip(conn: number, what: { text?: string; data?: Uint8Array; intervalMs: number; piece?: number }): Promise<Sent> {
    const args: Record<string, unknown> = { conn, interval_ms: what.intervalMs, piece: what.piece ?? 1 };
    if (what.data) args.data = Buffer.from(what.data).toString("base64");
    else args.text = what.text;
    return (await this.command("drip", args)) as unknown as Sent;
  }

  /**
   * Runs TLS over the TCP connection `conn`; from then on send/recv/fin/rst on it speak TLS:
   * `fin` is the TCP FIN alone (a truncation), `closeNotify` sends close_notify (then FIN), and
   * `recv` ends with "eof" at the peer's close_notify, "truncated" at a FIN without one.
   */
  async tls(conn: number, options: PeerTls): Promise<PeerTlsResult> {
    const { serverHostname, timeoutMs, ...rest } = options;
    const r = await this.command("tls", { conn, ...rest, server_hostname: serverHostname, timeout_ms: timeoutMs });
    return {
      protocol: r.protocol as string | undefined,
      alpn: r.alpn as string | null | undefined,
      handshakeError: r.handshake_error as string | undefined,
    };
  }

  /** Sends a TLS close_notify, then (unless `fin: false`) the TCP FIN. */
  closeNotify(conn: number, options: { fin?: boolean } = {}): Promise<unknown> {
    return this.command("close_notify", { conn, fin: options.fin ?? true });
  }

  fin(conn: number): Promise<unknown> {
    return this.command("fin", { conn });
  }

  rst(conn: number): Promise<unknown> {
    return this.command("rst", { conn });
  }

  close(conn: number): Promise<unknown> {
    return this.command("close", { conn });
  }

  async sentSoFar(conn: number): Promise<number> {
    return (await this.command("stats", { conn })).sent as number;
  }

  /**
   * Reads until `count` bytes, EOF, reset or `timeoutMs`; with `say`, sends it once `sayAfter` bytes came;
   * with `awaitFin`, after an "eof" also waits for the TCP FIN and reports when it came (`finAt`).
   */
  async recv(
    conn: number,
    opts: { count?: number; timeoutMs?: number; say?: string; sayAfter?: number; awaitFin?: boolean } = {},
  ): Promise<Received> {
    const r = await this.command("recv", {
      conn,
      count: opts.count,
      timeout_ms: opts.timeoutMs ?? 10_000,
      say: opts.say,
      say_after: opts.sayAfter,
      await_fin: opts.awaitFin,
    });
    return {
      length: r.length as number,
      sha256: r.sha256 as string,
      end: r.end as PeerEnd,
      data: r.data ? new Uint8Array(Buffer.from(r.data as string, "base64")) : new Uint8Array(0),
      ...(opts.awaitFin ? { finAt: r.fin_at as number | null } : {}),
    };
  }

  /** Kills the peer process at once: the kernel closes its sockets (FIN, or RST with unread data). */
  kill(): void {
    this.#child.kill("SIGKILL");
  }

  stop(): void {
    this.#child.stdin!.end();
    this.#child.kill();
  }
}

/**
 * Reads `size` bytes from `conn` slowly, 64 KiB every 20 ms (a reader far behind a fast
 * writer), or until the stream ends; returns how many came and their SHA-256.
 */
export async function recvSlowly(peer: Peer, conn: number, size: number): Promise<{ length: number; sha256: string }> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for (let i = 0; i < 10_000 && length < size; i++) {
    const part = await peer.recv(conn, { count: Math.min(65536, size - length), timeoutMs: 3000 });
    parts.push(part.data);
    length += part.length;
    if (part.end !== "count") break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { length, sha256: sha256(...parts) };
}

export function sha256(...parts: Uint8Array[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

/** `size` bytes of a pattern that does not repeat every 256 bytes: a lost or moved byte changes the checksum. */
export function patterned(size: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31) % 251);
}

/** The peer received exactly `sent`, then the end (a FIN; over TLS, close_notify then FIN). */
export function assertReceivedThenEnd(seen: Received, sent: Uint8Array): void {
  assert.equal(seen.length, sent.length, "every byte reached the peer");
  assert.equal(seen.sha256, sha256(sent), "in order, unchanged");
  assert.equal(seen.end, "eof", "then the end: a FIN (over TLS behind a close_notify), not a reset");
}

/** Runs `body` with a fresh peer process, stopped whatever happens. */
export async function withPeer<T>(body: (peer: Peer) => Promise<T>): Promise<T> {
  const peer = new Peer();
  try {
    return await body(peer);
  } finally {
    peer.stop();
  }
}
