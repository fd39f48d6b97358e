/**
 * The runtime's own API, used the way most code uses it, reporting the first thing
 * it says about each connection: the "what the runtime told you" column of the demo.
 */
export interface RawReport {
  what: string;
  /** When it was reported (epoch ms, fractional); undefined if it said nothing. */
  at?: number;
}

export interface RawServer {
  port: number;
  /** The report for the next connection, or "nothing" after `waitMs`. */
  next(waitMs: number): Promise<RawReport>;
  close(): void;
}

export const now = (): number => performance.timeOrigin + performance.now();

type Runtime = "node" | "deno" | "bun";

function reporter() {
  const waiting: ((report: RawReport) => void)[] = [];
  const ready: Promise<RawReport>[] = [];
  /** One connection: its first report wins. */
  const open = () => {
    let settle!: (report: RawReport) => void;
    const promise = new Promise<RawReport>((resolve) => (settle = resolve));
    const taker = waiting.shift();
    if (taker) promise.then(taker);
    else ready.push(promise);
    let done = false;
    let bytes = 0;
    return {
      data: (n: number) => void (bytes += n),
      report: (what: string) => {
        if (done) return;
        done = true;
        settle({ what: `${what}, ${describeBytes(bytes)} read`, at: now() });
      },
      silent: (waitMs: number) =>
        setTimeout(() => {
          if (done) return;
          done = true;
          settle({ what: `nothing within ${(waitMs / 1000).toFixed(1)} s, ${describeBytes(bytes)} read` });
        }, waitMs),
    };
  };
  const next = (waitMs: number): Promise<RawReport> => {
    const timeout = new Promise<RawReport>((resolve) =>
      setTimeout(() => resolve({ what: `no connection within ${waitMs} ms` }), waitMs + 1000)
    );
    const report = ready.shift() ?? new Promise<RawReport>((resolve) => waiting.push(resolve));
    return Promise.race([report, timeout]);
  };
  return { open, next };
}

function describeBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${n} B`;
}

/** A server certificate and its key, PEM: the raw server speaks TLS with them. */
export interface RawTls {
  cert: string;
  key: string;
}

export async function startRawServer(runtime: Runtime, waitMs: () => number, tls?: RawTls): Promise<RawServer> {
  const { open, next } = reporter();
  if (runtime === "deno") {
    const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;
    const address = { hostname: "127.0.0.1", port: 0 };
    const listener = tls ? Deno.listenTls({ ...address, ...tls }) : Deno.listen(address);
    void (async () => {
      for await (const conn of listener) {
        const conn_ = open();
        const timer = conn_.silent(waitMs());
        void (async () => {
          try {
            for await (const chunk of conn.readable) conn_.data(chunk.length);
            conn_.report("readable ended: EOF");
            await conn.write(new TextEncoder().encode("answer\n")).catch(() => {}); // try to reply
          } catch (err) {
            conn_.report(`readable threw ${(err as Error).name}`);
          } finally {
            clearTimeout(timer);
          }
        })();
      }
    })().catch(() => {});
    return { port: listener.addr.port, next, close: () => listener.close() };
  }
  if (runtime === "bun") {
    const Bun = (globalThis as unknown as { Bun: BunApi }).Bun;
    type Conn = ReturnType<typeof open> & { timer?: ReturnType<typeof setTimeout> };
    const server = Bun.listen<Conn>({
      hostname: "127.0.0.1",
      port: 0,
      ...(tls ? { tls } : {}),
      socket: {
        open(socket) {
          socket.data = open();
          socket.data.timer = socket.data.silent(waitMs());
        },
        data: (socket, chunk) => socket.data.data(chunk.length),
        end(socket) {
          socket.data.report("'end' handler: EOF");
          socket.write("answer\n"); // try to reply
          socket.end();
        },
        error: (socket, err) => socket.data.report(`'error' handler: ${(err as { code?: string }).code ?? err.name}`),
        close(socket, err) {
          socket.data.report(err ? `'close' handler with ${(err as { code?: string }).code ?? err.name}` : "'close' handler");
          clearTimeout(socket.data.timer);
        },
      },
    });
    return { port: server.port, next, close: () => server.stop(true) };
  }
  const net = await import("node:net");
  const onSocket = (socket: import("node:net").Socket) => {
    const conn = open();
    const timer = conn.silent(waitMs());
    socket.on("data", (chunk) => conn.data(chunk.length));
    socket.on("end", () => {
      conn.report("'end' event: clean EOF");
      socket.write("answer\n", () => {}); // try to reply
    });
    socket.on("error", (err: NodeJS.ErrnoException) => conn.report(`'error' event: ${err.code}`));
    socket.on("close", () => {
      conn.report("'close' event");
      clearTimeout(timer);
    });
  };
  const server = tls ? (await import("node:tls")).createServer(tls, onSocket) : net.createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the raw server is not on TCP");
  return { port: address.port, next, close: () => server.close() };
}

type DenoListener = AsyncIterable<{ readable: AsyncIterable<Uint8Array>; write(bytes: Uint8Array): Promise<number> }> & {
  addr: { port: number };
  close(): void;
};
interface DenoApi {
  listen(options: { hostname: string; port: number }): DenoListener;
  listenTls(options: { hostname: string; port: number } & RawTls): DenoListener;
}

interface BunSocket<T> {
  data: T;
  write(data: string): number;
  end(): void;
}
interface BunApi {
  listen<T>(options: {
    hostname: string;
    port: number;
    tls?: RawTls;
    socket: {
      open(socket: BunSocket<T>): void;
      data(socket: BunSocket<T>, chunk: Uint8Array): void;
      end(socket: BunSocket<T>): void;
      error(socket: BunSocket<T>, err: Error): void;
      close(socket: BunSocket<T>, err?: Error): void;
    };
  }): { port: number; stop(force: boolean): void };
}
