import assert from "node:assert/strict";
import type { Conn } from "../../src/index.ts";
import { concat } from "./bytes.ts";
import { type Peer, withPeer } from "./peer.ts";
import { hangup, runtime } from "./runtime.ts";
import type { ConnOptions } from "../../src/index.ts";

/** hangup's role in a case: accepting (server) or connecting (client). */
export type Side = "server" | "client";
export const SIDES: readonly Side[] = ["server", "client"];

/** The most one read of the runtime delivers (docs/design.md, "Backpressure"): hangup's 64 KiB read size, Bun's own 512 KiB. */
export const MAX_CHUNK: number = runtime === "bun" ? 512 << 10 : 64 << 10;

export interface Pair {
  conn: Conn;
  peer: Peer;
  /** The peer's handle of its end of the connection. */
  remote: number;
}

/** How the raw peer's socket is set up: `rcvbuf` shrinks its receive buffer (a peer that never reads stalls writes sooner). */
export interface PeerSocketOptions {
  rcvbuf?: number;
}

/** One connection between hangup (on `side`) and the raw peer. */
export async function openPair(peer: Peer, side: Side, options: ConnOptions = {}, peerOptions: PeerSocketOptions = {}): Promise<Pair> {
  if (side === "server") {
    const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, ...options });
    try {
      const port = listener.addr.port;
      const [remote, conn] = await Promise.all([peer.connect({ port, ...peerOptions }), listener.accept()]);
      return { conn: conn!, peer, remote };
    } finally {
      await listener.close();
    }
  }
  const { listener, port } = await peer.listen(peerOptions);
  const [conn, remote] = await Promise.all([hangup.connect({ port, ...options }), peer.accept(listener)]);
  await peer.close(listener);
  return { conn, peer, remote };
}

/** Runs `body` over a fresh pair; the connection is reset afterwards whatever happened. */
export function withPair(
  side: Side,
  body: (pair: Pair) => Promise<void>,
  options: ConnOptions = {},
  peerOptions: PeerSocketOptions = {},
): () => Promise<void> {
  return () =>
    withPeer(async (peer) => {
      const pair = await openPair(peer, side, options, peerOptions);
      try {
        await body(pair);
      } finally {
        pair.conn.reset();
        await pair.conn.closed;
      }
    });
}

/** Every byte until EOF, through `for await`; throws what the loop throws. */
export async function collect(conn: Conn, into: Uint8Array[] = []): Promise<Uint8Array> {
  for await (const chunk of conn) into.push(chunk);
  return concat(into);
}

export { concat };

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const text = (bytes: Uint8Array | null): string => (bytes === null ? "<null>" : new TextDecoder().decode(bytes));

/**
 * Asserts `chunk` is a plain Uint8Array (never a runtime's Buffer, whose `slice` shares memory)
 * holding `expected`, and that its `buffer` holds its bytes.
 */
export function assertPlainChunk(chunk: Uint8Array | null, expected: string): void {
  assert.ok(chunk !== null, "a chunk, not the end");
  assert.equal(Object.getPrototypeOf(chunk), Uint8Array.prototype);
  const copy = chunk.slice(0, 1);
  copy[0] = 0;
  assert.equal(text(chunk), expected, "slice() is a copy");
  const view = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  assert.equal(text(view), expected, "its buffer holds its bytes");
}

/** The error `promise` rejects with; fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection, but the promise resolved");
}

/** Settles within `ms`, or fails saying what did not happen. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
