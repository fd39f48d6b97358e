/** TLS fixtures: the test-only certificates, and a TLS pair between hangup and the peer. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Conn, ConnOptions, TlsOptions } from "../../src/index.ts";
import type { Pair, Side } from "./fixtures.ts";
import type { Peer, PeerCert, PeerTls, PeerTlsResult } from "./peer.ts";
import { hangup, runtime } from "./runtime.ts";

/** A test-only PEM file of test/fixtures/tls. */
export const pem = (name: string): string => readFileSync(fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url)), "utf8");

/** test/fixtures/tls: made by make-certs.sh, for these tests only. */
export const CERTS: { readonly ca: string; readonly cert: string; readonly key: string } = {
  ca: pem("ca.pem"),
  cert: pem("server.pem"),
  key: pem("server.key"),
} as const;

/** The adapter's TLS entry points, as the suite calls them. */
export interface TlsAdapter {
  connect(options: { port: number; hostname?: string; tls: true | TlsOptions } & ConnOptions): Promise<Conn>;
  listen(
    options: { hostname?: string; port?: number; tls: TlsOptions } & ConnOptions,
  ): Promise<{ addr: { port: number }; accept(): Promise<Conn | null>; close(): Promise<void>; ref(): void; unref(): void }>;
  startTls(conn: Conn, options?: TlsOptions & ConnOptions & { side?: "client" | "server" }): Promise<Conn>;
  /** Node, Deno and Bun have it (capabilities.wrap). */
  wrap(native: unknown, options?: ConnOptions): Conn;
}

/**
 * Runtimes whose adapter has TLS. Elsewhere the suite registers one named case that
 * fails, so a runtime without TLS never passes silently.
 */
export const TLS_RUNTIMES: readonly string[] = ["node", "deno", "bun"];
export const tlsAdapter = hangup as unknown as TlsAdapter;
export const hasTls: boolean = TLS_RUNTIMES.includes(runtime);

/** hangup's TLS options for `side`: a server certificate, or trust in the test CA. */
export function tlsOptionsFor(side: Side, extra: TlsOptions = {}): TlsOptions {
  return side === "server" ? { cert: CERTS.cert, key: CERTS.key, ...extra } : { ca: CERTS.ca, ...extra };
}

export interface TlsPair extends Pair {
  /** What the peer's handshake gave. */
  peerTls: PeerTlsResult;
}

/** One TLS connection between hangup (on `side`) and the peer, handshake done on both ends. */
export async function openTlsPair(
  peer: Peer,
  side: Side,
  options: {
    tls?: TlsOptions;
    conn?: ConnOptions;
    peer?: Partial<PeerTls> & { cert?: PeerCert };
    /** The peer's receive buffer: small, our writes wait in flight sooner than the kernel's autotuned buffers let them. */
    peerRcvbuf?: number;
  } = {},
): Promise<TlsPair> {
  const tls = tlsOptionsFor(side, options.tls);
  const rcvbuf = options.peerRcvbuf === undefined ? {} : { rcvbuf: options.peerRcvbuf };
  if (side === "server") {
    const listener = await tlsAdapter.listen({ hostname: "127.0.0.1", port: 0, tls, ...options.conn });
    try {
      const port = listener.addr.port;
      const remote = await peer.connect({ port, ...rcvbuf });
      const [peerTls, conn] = await Promise.all([peer.tls(remote, { side: "client", ...options.peer }), listener.accept()]);
      return { conn: conn!, peer, remote, peerTls };
    } finally {
      await listener.close();
    }
  }
  const { listener, port } = await peer.listen(rcvbuf);
  const accepted = peer.accept(listener);
  const connecting = tlsAdapter.connect({ port, tls, ...options.conn });
  const remote = await accepted;
  await peer.close(listener);
  const [peerTls, conn] = await Promise.all([peer.tls(remote, { side: "server", ...options.peer }), connecting]);
  return { conn, peer, remote, peerTls };
}
