/**
 * A small Redis client over TLS: RESP replies cut out of the stream by `conn.decode`, one
 * await per reply, commands pipelined on one connection. Copy `respDecoder` and `RedisClient`;
 * the rest runs them.
 *
 *   npx tsx examples/redis-tls.ts <host> <port> <ca.pem>   PING, SET, GET and a pipeline against your server
 *   ... --check      starts a local redis-server (--tls-port) with the test certificates and runs against it
 *
 * How the server left is hangup's answer, as for any Conn: a server that dies mid-reply is a
 * `ConnectionResetError` or `TlsTruncatedError` (FIN without close_notify), never a hang and
 * never a short reply taken for a whole one.
 */
import process from "node:process";
import type { Conn, Decoder, DecodeResult } from "hangup";

/** A RESP2 reply: simple and bulk strings, integers, nil, arrays, and server errors (as values). */
export type RespValue = string | number | null | RespError | RespValue[];

/** An error reply (`-ERR ...`): a value inside arrays, thrown by `RedisClient.command`. */
export class RespError extends Error {
  override name = "RespError";
}

const CR = 0x0d;
const utf8 = new TextDecoder();
const MAX_BULK = 512 * 1024 * 1024;

/** One reply starting at `at`, or `{ need }` (total bytes) / undefined (a line not yet complete). */
function parse(bytes: Uint8Array, at: number): DecodeResult<RespValue> {
  const eol = bytes.indexOf(CR, at);
  if (eol < 0 || eol + 1 >= bytes.length) return undefined;
  const line = utf8.decode(bytes.subarray(at + 1, eol));
  const next = eol + 2;
  switch (bytes[at]) {
    case 0x2b: // +OK
      return { value: line, used: next - at };
    case 0x2d: // -ERR ...
      return { value: new RespError(line), used: next - at };
    case 0x3a: // :42
      return { value: Number(line), used: next - at };
    case 0x24: { // $5\r\nhello\r\n, $-1 for nil
      const size = Number(line);
      if (size === -1) return { value: null, used: next - at };
      if (!Number.isInteger(size) || size < 0 || size > MAX_BULK) throw new RangeError(`bad RESP bulk length ${line}`);
      if (bytes.length < next + size + 2) return { need: next + size + 2 - at };
      return { value: utf8.decode(bytes.subarray(next, next + size)), used: next + size + 2 - at };
    }
    case 0x2a: { // *2\r\n... , *-1 for nil
      const count = Number(line);
      if (count === -1) return { value: null, used: next - at };
      if (!Number.isInteger(count) || count < 0) throw new RangeError(`bad RESP array length ${line}`);
      const items: RespValue[] = [];
      let offset = next;
      for (let i = 0; i < count; i++) {
        const item = parse(bytes, offset);
        if (item === undefined || "need" in item) return undefined;
        items.push(item.value);
        offset += item.used;
      }
      return { value: items, used: offset - at };
    }
    default:
      throw new RangeError(`not a RESP reply: byte 0x${(bytes[at] ?? 0).toString(16)}`);
  }
}

/**
 * RESP2 replies for one `conn.decode` loop: it is handed the buffered bytes from the next reply
 * on and returns one reply, or how many bytes it needs. Each call starts from the reply's first
 * byte, so for an array reply (MGET of 40,000 keys: 20 MB in 300 chunks) it remembers the
 * elements it already read and goes on from there: every byte is parsed once, not once per chunk.
 * One decoder per loop: the progress it keeps is that loop's.
 *
 * @example
 * ```ts
 * for await (const reply of conn.decode(respDecoder(), { maxBytes: 1 << 20 })) console.log(reply);
 * ```
 */
export function respDecoder(): Decoder<RespValue> {
  let array: { items: RespValue[]; count: number; offset: number } | undefined;
  return {
    decode(bytes) {
      if (bytes[0] !== 0x2a) return parse(bytes, 0);
      if (array === undefined) {
        const eol = bytes.indexOf(CR);
        if (eol < 0 || eol + 1 >= bytes.length) return undefined;
        const line = utf8.decode(bytes.subarray(1, eol));
        const count = Number(line);
        if (count === -1) return { value: null, used: eol + 2 };
        if (!Number.isInteger(count) || count < 0) throw new RangeError(`bad RESP array length ${line}`);
        array = { items: [], count, offset: eol + 2 };
      }
      while (array.items.length < array.count) {
        const item = parse(bytes, array.offset);
        if (item === undefined) return undefined;
        if ("need" in item) return { need: array.offset + item.need };
        array.items.push(item.value);
        array.offset += item.used;
      }
      const reply = { value: array.items, used: array.offset };
      array = undefined;
      return reply;
    },
  };
}

const encoder = new TextEncoder();

/** A command as RESP: an array of bulk strings. */
function encode(args: ReadonlyArray<string | number>): Uint8Array {
  const parts = args.map((arg) => encoder.encode(String(arg)));
  const head = `*${parts.length}\r\n`;
  const chunks: Uint8Array[] = [encoder.encode(head)];
  for (const part of parts) chunks.push(encoder.encode(`$${part.length}\r\n`), part, encoder.encode("\r\n"));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Redis over a hangup `Conn` (TLS or not): commands are written at once, replies read in order.
 *
 * @example
 * ```ts
 * import { connect } from "hangup";
 * const redis = new RedisClient(await connect({ hostname: "cache.internal", port: 6380, tls: { ca } }));
 * await redis.command("SET", "greeting", "hello");
 * console.log(await redis.command("GET", "greeting")); // "hello"
 * await redis.close();
 * ```
 */
export class RedisClient {
  readonly conn: Conn;
  readonly #replies: AsyncIterator<RespValue>;
  /** The reply reads in flight, chained so each takes the next reply in order. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(conn: Conn) {
    this.conn = conn;
    this.#replies = conn.decode(respDecoder(), { maxBytes: MAX_BULK + 64 })[Symbol.asyncIterator]();
  }

  #nextReply(): Promise<RespValue> {
    const reply = this.#last.then(async () => {
      const next = await this.#replies.next();
      if (next.done) throw new Error("Redis closed the connection before replying");
      return next.value;
    });
    this.#last = reply.catch(() => {});
    return reply;
  }

  /** One command; rejects with `RespError` on an error reply, or hangup's error if the connection fails. */
  async command(...args: Array<string | number>): Promise<RespValue> {
    const reply = this.#nextReply();
    reply.catch(() => {}); // if the write fails, that error is the one thrown
    await this.conn.write(encode(args));
    const value = await reply;
    if (value instanceof RespError) throw value;
    return value;
  }

  /** Many commands in one write; their replies in order (error replies as `RespError` values). */
  async pipeline(commands: ReadonlyArray<ReadonlyArray<string | number>>): Promise<RespValue[]> {
    const replies = Promise.all(commands.map(() => this.#nextReply()));
    replies.catch(() => {}); // if the write fails, that error is the one thrown
    await this.conn.write(concatAll(commands.map(encode)));
    return replies;
  }

  /** `QUIT`, then close (TLS close_notify, then FIN). */
  async close(): Promise<void> {
    try {
      await this.command("QUIT");
    } finally {
      await this.conn.close();
    }
  }
}

function concatAll(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** PING, SET, GET and a pipeline of 100 INCRs. */
async function demo(redis: RedisClient): Promise<void> {
  console.log("PING ->", await redis.command("PING"));
  console.log("SET ->", await redis.command("SET", "hangup:greeting", "hello over TLS"));
  console.log("GET ->", await redis.command("GET", "hangup:greeting"));
  await redis.command("DEL", "hangup:counter");
  const replies = await redis.pipeline(Array.from({ length: 100 }, () => ["INCR", "hangup:counter"]));
  console.log(`pipeline of ${replies.length} INCR -> last`, replies.at(-1));
  if (replies.at(-1) !== 100) throw new Error(`expected 100 after the pipeline, got ${String(replies.at(-1))}`);
  console.log("connection:", redis.conn.tls);
}

const isMain = /redis-tls\.ts$/.test(process.argv[1] ?? "");
if (isMain) {
  const { connect } = await import("hangup");
  const { readFileSync } = await import("node:fs");
  if (process.argv.includes("--check")) {
    // A local redis-server with the test-only certificates (test/fixtures/tls; never use them elsewhere).
    const { spawn } = await import("node:child_process");
    const { createServer } = await import("node:net");
    const certs = new URL("../test/fixtures/tls/", import.meta.url);
    const file = (name: string): string => new URL(name, certs).pathname;
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const server = spawn("redis-server", [
      "--port",
      "0",
      "--bind",
      "127.0.0.1",
      "--tls-port",
      String(port),
      "--save",
      "",
      "--appendonly",
      "no",
      "--tls-cert-file",
      file("server.pem"),
      "--tls-key-file",
      file("server.key"),
      "--tls-ca-cert-file",
      file("ca.pem"),
      "--tls-auth-clients",
      "no",
    ], { stdio: ["ignore", "pipe", "inherit"] });
    server.on("error", (err) => {
      console.error(`redis-server could not start (apt-get install redis-server): ${err.message}`);
      process.exit(1);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("redis-server not ready within 10 s")), 10_000);
        let log = "";
        server.stdout!.on("data", (chunk: Buffer) => {
          log += chunk.toString();
          if (log.includes("Ready to accept connections")) {
            clearTimeout(timer);
            resolve();
          }
        });
        server.on("exit", (code) => reject(new Error(`redis-server exited (${String(code)}): ${log}`)));
      });
      const redis = new RedisClient(
        await connect({ hostname: "127.0.0.1", port, tls: { ca: readFileSync(file("ca.pem"), "utf8") }, idleTimeout: 10_000 }),
      );
      await demo(redis);
      await redis.close();
    } finally {
      server.kill("SIGKILL");
    }
  } else {
    const [hostname = "127.0.0.1", port = "6380", caFile] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
    const tls = caFile ? { ca: readFileSync(caFile, "utf8") } : true;
    const redis = new RedisClient(await connect({ hostname, port: Number(port), tls, idleTimeout: 30_000 }));
    await demo(redis);
    await redis.close();
  }
}
