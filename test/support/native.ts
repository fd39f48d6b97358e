/**
 * What a user does with `conn.unwrap().native` on each runtime: read it to the end
 * with the runtime's own API. The suite uses it to prove no read-ahead byte is lost.
 */
import { runtime } from "./detect.ts";
import { concat } from "./fixtures.ts";

type NodeSocket = {
  on(event: "data", fn: (chunk: Uint8Array) => void): void;
  on(event: "end" | "close", fn: () => void): void;
  on(event: "error", fn: (err: unknown) => void): void;
  resume(): void;
  destroy(): void;
  readonly readableEnded: boolean;
};
type DenoConn = { read(p: Uint8Array): Promise<number | null>; close(): void };
type BunSocket = {
  reload(options: { socket: Record<string, (...args: never[]) => void> }): void;
  resume(): void;
  end(): void;
};

/** Every byte the native socket yields until the peer's FIN; then closes it. */
export async function readNativeToEnd(native: unknown): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  if (runtime === "deno") {
    const conn = native as DenoConn;
    for (let i = 0; i < 100_000; i++) {
      const buffer = new Uint8Array(16384);
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    conn.close();
    return concat(chunks);
  }
  if (runtime === "bun") {
    const socket = native as BunSocket;
    await new Promise<void>((resolve, reject) => {
      socket.reload({
        socket: {
          data: (_s: unknown, chunk: Uint8Array) => void chunks.push(new Uint8Array(chunk)),
          end: () => resolve(),
          close: (_s: unknown, err?: unknown) => (err ? reject(err) : resolve()),
          error: (_s: unknown, err: unknown) => reject(err),
        },
      });
      socket.resume();
    });
    socket.end();
    return concat(chunks);
  }
  const socket = native as NodeSocket;
  // Node emits 'end' even to a paused socket with no listener; a new owner checks this flag.
  if (!socket.readableEnded) {
    await new Promise<void>((resolve, reject) => {
      socket.on("data", (chunk) => chunks.push(chunk));
      socket.on("end", () => resolve());
      socket.on("error", reject);
      socket.resume();
    });
  }
  socket.destroy();
  return concat(chunks);
}

export interface NativeStreams {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/**
 * Whether closing the runtime's own writable (as `connectStreams` builds it) sends a FIN and
 * leaves reading open. Deno's `conn.writable` closes the whole socket when it closes.
 */
export const nativeStreamsHalfClose: boolean = runtime !== "deno";

/**
 * A real TCP connection to 127.0.0.1:`port` opened with the runtime's own API and
 * seen as Web Streams: Deno's `conn.readable`/`conn.writable`, and on Node and Bun
 * `Duplex.toWeb(net.Socket)`.
 */
export async function connectStreams(port: number): Promise<NativeStreams> {
  if (runtime === "deno") {
    const deno = (globalThis as unknown as { Deno: { connect(o: { hostname: string; port: number }): Promise<NativeStreams> } }).Deno;
    const conn = await deno.connect({ hostname: "127.0.0.1", port });
    return { readable: conn.readable, writable: conn.writable };
  }
  const net = await import("node:net");
  const { Duplex } = await import("node:stream");
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return Duplex.toWeb(socket) as unknown as NativeStreams;
}

/** Closes an unwrapped native socket at once, whatever the runtime. */
export function destroyNative(native: unknown): void {
  const socket = native as { destroy?: () => void; terminate?: () => void; close?: () => void };
  if (runtime === "node") socket.destroy?.();
  else if (runtime === "bun") socket.terminate?.();
  else socket.close?.();
}
