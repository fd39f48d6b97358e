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
  /** hangup's handlers send the socket's events to the methods of its `data`. */
  data: Record<string, (...args: never[]) => void>;
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
      socket.data = {
        data: (_s: unknown, chunk: Uint8Array) => void chunks.push(new Uint8Array(chunk)),
        end: () => resolve(),
        close: (_s: unknown, err?: unknown) => (err ? reject(err) : resolve()),
        error: (_s: unknown, err: unknown) => reject(err),
      };
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

/**
 * What a new owner of `conn.unwrap().native` writes with the runtime's own API: `bytes`, then its
 * FIN, as soon as the runtime takes them (Bun: write, keep the rest for `drain`, then `shutdown()`,
 * as examples/handoff/bun.ts does). Resolves once the FIN was asked for.
 */
export async function writeNativeThenEnd(native: unknown, bytes: Uint8Array): Promise<void> {
  if (runtime === "deno") {
    const conn = native as { write(p: Uint8Array): Promise<number>; closeWrite(): Promise<void> };
    for (let rest = bytes; rest.length > 0;) rest = rest.subarray(await conn.write(rest));
    await conn.closeWrite();
    return;
  }
  if (runtime === "bun") {
    const socket = native as {
      data: Record<string, (...args: never[]) => void>;
      write(p: Uint8Array): number;
      shutdown(): void;
      resume(): void;
    };
    await new Promise<void>((resolve, reject) => {
      let rest = bytes;
      const attempt = (): void => {
        const n = socket.write(rest);
        if (n < 0) return reject(new Error("the socket is closed"));
        rest = rest.subarray(n);
        if (rest.length > 0) return;
        socket.shutdown();
        resolve();
      };
      socket.data = { data: () => {}, drain: () => attempt(), close: () => {}, error: (_s: unknown, err: unknown) => reject(err) };
      socket.resume();
      attempt();
    });
    return;
  }
  const socket = native as {
    write(p: Uint8Array): boolean;
    end(callback: () => void): void;
    on(event: "error", fn: (err: unknown) => void): void;
  };
  await new Promise<void>((resolve, reject) => {
    socket.on("error", reject);
    socket.write(bytes);
    socket.end(() => resolve());
  });
}

/**
 * Every byte until the peer's FIN, read through the runtime's own stream view of the socket,
 * taken up twice: Deno's `conn.readable` (one chunk with a reader, then `for await` over
 * `conn.readable` again), Node's `net.Socket` as an async iterable. Bun's socket has no stream
 * view: its handlers, as `readNativeToEnd`. `sameStream` says whether the second look found the
 * stream the first one read from.
 */
export async function readNativeStreamToEnd(native: unknown): Promise<{ bytes: Uint8Array; sameStream: boolean }> {
  if (runtime === "bun") return { bytes: await readNativeToEnd(native), sameStream: true };
  if (runtime === "node") {
    const chunks: Uint8Array[] = [];
    for await (const chunk of native as AsyncIterable<Uint8Array>) chunks.push(chunk);
    return { bytes: concat(chunks), sameStream: true };
  }
  const conn = native as { readable: ReadableStream<Uint8Array> };
  const first = conn.readable;
  const reader = first.getReader();
  const chunks: Uint8Array[] = [];
  const head = await reader.read();
  if (!head.done) chunks.push(head.value);
  reader.releaseLock();
  const again = conn.readable;
  for await (const chunk of again as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  try {
    (native as { close(): void }).close(); // Deno's readable closes the conn at its end; to be sure
  } catch {
    // Already closed.
  }
  return { bytes: concat(chunks), sameStream: again === first };
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

/** A socket opened with the runtime's own client API, and what its own handlers saw (Bun). */
export interface NativeClient {
  socket: unknown;
  /** Bytes the socket's own handlers received (Bun; elsewhere nothing listens). */
  ownHandlerBytes: number;
}

/** Connects to 127.0.0.1:`port` with the runtime's own API: `net.connect`, `Deno.connect`, `Bun.connect`. */
export async function connectNative(port: number): Promise<NativeClient> {
  if (runtime === "deno") {
    const deno = (globalThis as unknown as { Deno: { connect(o: { hostname: string; port: number }): Promise<unknown> } }).Deno;
    return { socket: await deno.connect({ hostname: "127.0.0.1", port }), ownHandlerBytes: 0 };
  }
  if (runtime === "bun") {
    const client: NativeClient = { socket: undefined, ownHandlerBytes: 0 };
    const bun = (globalThis as unknown as { Bun: { connect(o: object): Promise<unknown> } }).Bun;
    client.socket = await bun.connect({
      hostname: "127.0.0.1",
      port,
      // As wrap() asks: without it Bun closes the socket at the peer's FIN.
      allowHalfOpen: true,
      socket: { data: (_s: unknown, chunk: Uint8Array) => void (client.ownHandlerBytes += chunk.length) },
    });
    return client;
  }
  const net = await import("node:net");
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, ownHandlerBytes: 0 };
}

/**
 * A TLS client connection to 127.0.0.1:`port` made with the runtime's own TLS API, trusting
 * `ca`: `tls.connect`, `Deno.connectTls`, `Bun.connect({ tls })`. Resolves once the socket exists
 * (its handshake may still be going on); `close` releases it.
 */
export async function connectRuntimeTls(port: number, ca: string): Promise<{ socket: unknown; close(): void }> {
  if (runtime === "deno") {
    const deno = (globalThis as unknown as {
      Deno: { connectTls(o: { hostname: string; port: number; caCerts: string[] }): Promise<{ close(): void }> };
    }).Deno;
    const conn = await deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
    return { socket: conn, close: () => conn.close() };
  }
  if (runtime === "bun") {
    const bun = (globalThis as unknown as { Bun: { connect(o: object): Promise<{ terminate(): void }> } }).Bun;
    const socket = await bun.connect({ hostname: "127.0.0.1", port, allowHalfOpen: true, tls: { ca }, socket: { data: () => {} } });
    return { socket, close: () => socket.terminate() };
  }
  const tls = await import("node:tls");
  const socket = tls.connect({ host: "127.0.0.1", port, ca });
  socket.on("error", () => {});
  return { socket, close: () => socket.destroy() };
}

/** A listener made with the runtime's own API: `net.createServer`, `Deno.listen`, `Bun.listen`. */
export interface NativeServer {
  port: number;
  /** The next accepted socket. */
  accept(): Promise<unknown>;
  /** Bytes its own handlers received, per accepted socket in order (Bun; elsewhere nothing listens). */
  ownHandlerBytes: number[];
  close(): void;
}

/** Listens on 127.0.0.1 with the runtime's own API; accepted sockets are left unread. */
export async function listenNative(): Promise<NativeServer> {
  const queue: unknown[] = [];
  const waiters: ((socket: unknown) => void)[] = [];
  const push = (socket: unknown): void => {
    const waiter = waiters.shift();
    if (waiter) waiter(socket);
    else queue.push(socket);
  };
  const accept = (): Promise<unknown> =>
    queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve));
  if (runtime === "deno") {
    type DenoListener = { addr: { port: number }; accept(): Promise<unknown>; close(): void };
    const deno = (globalThis as unknown as { Deno: { listen(o: { hostname: string; port: number }): DenoListener } }).Deno;
    const listener = deno.listen({ hostname: "127.0.0.1", port: 0 });
    return { port: listener.addr.port, accept: () => listener.accept(), ownHandlerBytes: [], close: () => listener.close() };
  }
  if (runtime === "bun") {
    const ownHandlerBytes: number[] = [];
    type BunServer = { port: number; stop(closeActive?: boolean): void };
    const bun = (globalThis as unknown as { Bun: { listen(o: object): BunServer } }).Bun;
    const server = bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (socket: { data: number }) => {
          socket.data = ownHandlerBytes.push(0) - 1;
          push(socket);
        },
        data: (socket: { data: number }, chunk: Uint8Array) =>
          void (ownHandlerBytes[socket.data] = (ownHandlerBytes[socket.data] ?? 0) + chunk.length),
      },
    });
    return { port: server.port, accept, ownHandlerBytes, close: () => server.stop(true) };
  }
  const net = await import("node:net");
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, push);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return { port: address.port, accept, ownHandlerBytes: [], close: () => server.close() };
}
