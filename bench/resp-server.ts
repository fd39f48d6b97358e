/**
 * The RESP benchmark's servers: `resp-server.ts raw|hangup`, run in Node, Deno or Bun, serving
 * PING, SET and GET to any number of clients until killed. Prints `READY <port> <label>` once it
 * listens. bench/resp.mjs drives them with the real `redis-benchmark`.
 *
 * - raw: the runtime's own socket API written by hand (Node `data` events, Deno `conn.read` into
 *   one reused buffer per connection, Bun.listen `data`), each chunk's commands decoded in place
 *   and their replies written as one buffer.
 * - floor: the raw socket API again, but each command handed to a `for await` loop through a
 *   minimal hand-written async iterator (`Promise.resolve` per buffered command), the replies of
 *   a batch written as one buffer once nothing more is buffered. No one-await-per-message API
 *   can cost less than this; the ratio floor/raw bounds what `decode` can reach.
 * - hangup: written the way a user would: `for await (const command of conn.decode(...))`, each
 *   reply written without awaiting it, the last one awaited once nothing more is buffered. Until
 *   the core has `decode`, the same with `readUntil("\r\n")` + `readExactly` (the label says which).
 *
 * Both use the same decoder and command set (examples/resp/decode.ts), so the ratio is the cost
 * of the I/O path alone.
 */
import process from "node:process";
import type { Conn } from "../src/index.ts";
import { concatBytes, decodeCommand, type RespCommand, RespProtocolError, RespStore } from "../examples/resp/decode.ts";
import { serveResp } from "../examples/resp/serve.ts";

type Runtime = "node" | "deno" | "bun";
const runtime: Runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const variant = process.argv[2] ?? "hangup";
const store = new RespStore();
const EMPTY = new Uint8Array(0);
// deno-lint-ignore no-explicit-any
type Any = any;
const g = globalThis as Any;

interface RawState {
  /** Bytes of an incomplete command, copied out of the chunk they came in. */
  pending: Uint8Array;
}

/** Every whole command in `pending + chunk`, in order, to `onCommand`; the rest kept in `pending`. */
function decodeChunk(state: RawState, chunk: Uint8Array, onCommand: (command: RespCommand) => void): void {
  let bytes = chunk;
  if (state.pending.length > 0) {
    bytes = new Uint8Array(state.pending.length + chunk.length);
    bytes.set(state.pending);
    bytes.set(chunk, state.pending.length);
  }
  let at = 0;
  for (;;) {
    const result = decodeCommand(at === 0 ? bytes : bytes.subarray(at));
    if (result === undefined || !("value" in result)) break;
    at += result.used;
    onCommand(result.value);
  }
  // A copy: Deno's read buffer is overwritten by the next read.
  state.pending = at === bytes.length ? EMPTY : bytes.slice(at);
}

/** Every whole command in `pending + chunk`, answered; the replies as one buffer, or null. */
function serveChunk(state: RawState, chunk: Uint8Array): Uint8Array | null {
  const replies: Uint8Array[] = [];
  let length = 0;
  decodeChunk(state, chunk, (command) => {
    const reply = store.execute(command);
    if (reply !== null) {
      replies.push(reply);
      length += reply.length;
    }
  });
  return length === 0 ? null : concatBytes(replies, length);
}

/** Bun's write takes what fits: the rest waits in `unsent`, in order, for its `drain`. */
function bunSend(socket: Any, unsent: Uint8Array[], out: Uint8Array): void {
  if (unsent.length > 0) return void unsent.push(out);
  const written: number = socket.write(out);
  if (written < out.length) unsent.push(out.subarray(Math.max(written, 0)));
}

function bunDrain(socket: Any, unsent: Uint8Array[]): void {
  for (const out of unsent.splice(0)) bunSend(socket, unsent, out);
}

function ready(port: number, label: string): void {
  console.log(`READY ${port} ${label}`);
}

async function rawNode(): Promise<void> {
  const net = await import("node:net");
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const state: RawState = { pending: EMPTY };
    socket.on("data", (chunk) => {
      try {
        const out = serveChunk(state, chunk);
        if (out !== null) socket.write(out);
      } catch (err) {
        if (!(err instanceof RespProtocolError)) throw err;
        socket.destroy();
      }
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => ready((server.address() as { port: number }).port, "raw node:net data events"));
}

async function rawDeno(): Promise<void> {
  const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0 });
  ready(listener.addr.port, "raw Deno conn.read into a reused buffer");
  for await (const conn of listener) {
    void (async () => {
      conn.setNoDelay(true);
      const buffer = new Uint8Array(65536);
      const state: RawState = { pending: EMPTY };
      try {
        for (;;) {
          const n: number | null = await conn.read(buffer);
          if (n === null) break;
          const out = serveChunk(state, buffer.subarray(0, n));
          if (out !== null) { for (let at = 0; at < out.length;) at += await conn.write(out.subarray(at)); }
        }
      } catch {
        // A reset or a protocol error: drop the connection.
      }
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    })();
  }
}

function rawBun(): void {
  interface BunState extends RawState {
    unsent: Uint8Array[];
  }
  const server = g.Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket: Any) {
        socket.setNoDelay(true);
        socket.data = { pending: EMPTY, unsent: [] } satisfies BunState;
      },
      data(socket: Any, chunk: Uint8Array) {
        try {
          const out = serveChunk(socket.data, chunk);
          if (out !== null) bunSend(socket, socket.data.unsent, out);
        } catch (err) {
          if (!(err instanceof RespProtocolError)) throw err;
          socket.terminate();
        }
      },
      drain(socket: Any) {
        bunDrain(socket, socket.data.unsent);
      },
      error() {},
    },
  });
  ready(server.port, "raw Bun.listen data");
}

/**
 * The commands of the raw socket's chunks, decoded in place, handed out one `await` each: the
 * cheapest `for await` a hand-written server can put between a socket and its commands. Push
 * (Node, Bun: `push` on each data event) or pull (Deno: `pull` reads when nothing is buffered).
 */
class CommandFeed implements AsyncIterableIterator<RespCommand> {
  #commands: RespCommand[] = [];
  #head = 0;
  #waiter: ((result: IteratorResult<RespCommand>) => void) | undefined;
  #ended = false;
  readonly #state: RawState = { pending: EMPTY };
  readonly #collect = (command: RespCommand): void => void this.#commands.push(command);
  constructor(readonly pull?: () => Promise<Uint8Array | null>) {}

  /** Whether commands are decoded and not yet handed out. */
  get buffered(): boolean {
    return this.#head < this.#commands.length;
  }

  push(chunk: Uint8Array): void {
    decodeChunk(this.#state, chunk, this.#collect);
    const waiter = this.#waiter;
    if (waiter && this.buffered) {
      this.#waiter = undefined;
      waiter({ done: false, value: this.#take() });
    }
  }

  end(): void {
    this.#ended = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ done: true, value: undefined });
  }

  #take(): RespCommand {
    const command = this.#commands[this.#head++]!;
    if (this.#head === this.#commands.length) {
      this.#commands = [];
      this.#head = 0;
    }
    return command;
  }

  next(): Promise<IteratorResult<RespCommand>> {
    if (this.buffered) return Promise.resolve({ done: false, value: this.#take() });
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    if (this.pull) return this.#pulled();
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  async #pulled(): Promise<IteratorResult<RespCommand>> {
    for (;;) {
      const chunk = await this.pull!();
      if (chunk === null) return { done: true, value: undefined };
      this.push(chunk);
      if (this.buffered) return { done: false, value: this.#take() };
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<RespCommand> {
    return this;
  }
}

/** The floor's loop: as `serveResp` over hangup, one `await` per command, a batch's replies as one write. */
async function serveFeed(feed: CommandFeed, write: (out: Uint8Array) => Promise<unknown> | undefined): Promise<void> {
  const replies: Uint8Array[] = [];
  let length = 0;
  for await (const command of feed) {
    const reply = store.execute(command);
    if (reply !== null) {
      replies.push(reply);
      length += reply.length;
    }
    if (!feed.buffered && length > 0) {
      const out = concatBytes(replies, length);
      replies.length = 0;
      length = 0;
      const written = write(out);
      if (written) await written;
    }
  }
}

function floorNode(net: typeof import("node:net")): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const feed = new CommandFeed();
    socket.on("data", (chunk) => feed.push(chunk));
    socket.on("end", () => feed.end());
    socket.on("error", () => feed.end());
    serveFeed(feed, (out) => void socket.write(out)).catch(() => socket.destroy());
  });
  server.listen(
    0,
    "127.0.0.1",
    () => ready((server.address() as { port: number }).port, "floor: node:net data events, one await per command"),
  );
}

async function floorDeno(): Promise<void> {
  const listener = g.Deno.listen({ hostname: "127.0.0.1", port: 0 });
  ready(listener.addr.port, "floor: Deno conn.read into a reused buffer, one await per command");
  for await (const conn of listener) {
    conn.setNoDelay(true);
    const buffer = new Uint8Array(65536);
    const feed = new CommandFeed(async () => {
      const n: number | null = await conn.read(buffer);
      return n === null ? null : buffer.subarray(0, n);
    });
    const write = async (out: Uint8Array) => {
      for (let at = 0; at < out.length;) at += await conn.write(out.subarray(at));
    };
    serveFeed(feed, write).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    });
  }
}

function floorBun(): void {
  const server = g.Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket: Any) {
        socket.setNoDelay(true);
        const feed = new CommandFeed();
        const unsent: Uint8Array[] = [];
        socket.data = { feed, unsent };
        serveFeed(feed, (out) => void bunSend(socket, unsent, out)).catch(() => socket.terminate());
      },
      data(socket: Any, chunk: Uint8Array) {
        socket.data.feed.push(chunk);
      },
      drain(socket: Any) {
        bunDrain(socket, socket.data.unsent);
      },
      close(socket: Any) {
        socket.data.feed.end();
      },
      error() {},
    },
  });
  ready(server.port, "floor: Bun.listen data, one await per command");
}

async function hangupServer(): Promise<void> {
  const hangup = (await import(`../dist/${runtime}.js`)) as typeof import("../adapters/node.ts");
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, noDelay: true });
  const port = (listener.addr as { port: number }).port;
  const serving = hangup.serve(listener, (conn: Conn) => serveResp(conn, store), { onError: () => {} });
  // Which API this build has, seen on a throwaway connection of our own.
  const own = await hangup.connect({ port });
  const label = typeof (own as Any).decode !== "function"
    ? "hangup readUntil+readExactly (no decode in this build), every 16th write awaited"
    : typeof (own as Any).buffered === "number"
    ? "hangup decode, writes awaited at buffered 0"
    : "hangup decode (no buffered: every write awaited)";
  await own.close();
  ready(port, label);
  await serving;
}

if (variant === "floor") {
  if (runtime === "node") floorNode(await import("node:net"));
  else if (runtime === "deno") await floorDeno();
  else floorBun();
} else if (variant === "raw") {
  if (runtime === "node") await rawNode();
  else if (runtime === "deno") await rawDeno();
  else rawBun();
} else {
  await hangupServer();
}
