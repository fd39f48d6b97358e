/**
 * A Redis-protocol (RESP2) server answering PING, SET and GET from memory: each command decoded
 * with one `await` (`conn.decode`, decoder in examples/resp/decode.ts), replies written without
 * waiting for each, so a pipelining client gets its replies in few writes. Try it with
 * `redis-cli -p <port>` or `redis-benchmark -p <port> -t ping,set,get -P 32`.
 *
 *   npx tsx examples/resp-server.ts [port]    deno run -A examples/resp-server.ts
 *   bun --tsconfig-override=tsconfig.bun-run.json examples/resp-server.ts   (in a clone, so that "hangup" is the Bun adapter)
 *   ... --check                               sends a pipelined batch once and checks the replies,
 *                                             sets and gets a 1 MB value; a client that never
 *                                             reads holds bounded memory
 */
import process from "node:process";
import { connect, listen, serve } from "hangup";
import { RespStore } from "./resp/decode.ts";
import { serveResp } from "./resp/serve.ts";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 6379);

/** Commands (a SET and its value) up to 8 MiB; `decode`'s default, 64 KiB, is small for a cache. */
const MAX_COMMAND_BYTES = 8 << 20;
const store = new RespStore();
const listener = await listen({ hostname: "127.0.0.1", port: check ? 0 : port, noDelay: true, idleTimeout: 300_000 });
console.log("RESP server on", listener.addr);
const stop = new AbortController();
const server = serve(listener, (conn) => serveResp(conn, store, { maxBytes: MAX_COMMAND_BYTES }), { signal: stop.signal });

if (check) {
  const conn = await connect({ port: listener.addr.port });
  // One pipelined burst: inline PING, then SET and GET as arrays of bulk strings.
  await conn.write(
    "PING\r\n*3\r\n$3\r\nSET\r\n$5\r\ngreet\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$5\r\ngreet\r\n*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n",
  );
  await conn.closeWrite();
  let replies = "";
  for await (const chunk of conn) replies += new TextDecoder().decode(chunk);
  console.log("replies:", JSON.stringify(replies));
  await conn.close();
  const bigRoundTrip = await setAndGetBig(listener.addr.port, 1_000_000);
  const grown = await neverReadingClient(listener.addr.port);
  stop.abort();
  await server;
  if (replies !== "+PONG\r\n+OK\r\n$5\r\nhello\r\n$-1\r\n" || !bigRoundTrip || grown > 100) process.exit(1);
}

/** SETs a value of `size` bytes and GETs it back: whether the same bytes came back. */
async function setAndGetBig(port: number, size: number): Promise<boolean> {
  const value = new Uint8Array(size).map((_, i) => 97 + (i % 26));
  const conn = await connect({ port });
  const ascii = new TextEncoder();
  await conn.write(ascii.encode(`*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$${size}\r\n`));
  await conn.write(value);
  await conn.write(ascii.encode("\r\n*2\r\n$3\r\nGET\r\n$4\r\nhuge\r\n"));
  const line = async () => new TextDecoder().decode((await conn.readUntil("\r\n")) ?? new Uint8Array());
  const ok = await line();
  const header = await line();
  const back = await conn.readExactly(size);
  await conn.close();
  const same = header === `$${size}\r\n` && back.every((byte, i) => byte === value[i]);
  console.log(`a ${size}-byte value: ${JSON.stringify(ok)}, read back ${same ? "the same" : "different"}`);
  return ok === "+OK\r\n" && same;
}

/**
 * A client that asks for a 60 KB value 5,000 times (300 MB of replies), always stopping mid-command,
 * and never reads: the server's memory must not grow by the replies. Returns the growth in MB.
 */
async function neverReadingClient(port: number): Promise<number> {
  const value = "v".repeat(60_000);
  const setter = await connect({ port });
  await setter.write(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${value.length}\r\n${value}\r\n`);
  await setter.readUntil("\r\n");
  await setter.close();
  const before = process.memoryUsage().rss;
  const greedy = await connect({ port });
  const get = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
  const commands = get.repeat(5000) + get.slice(0, 5);
  // In pieces that each end mid-command, so the server never finds its input buffer empty.
  for (let at = 0; at < commands.length; at += 1000) void greedy.write(commands.slice(at, Math.min(at + 1000, commands.length)));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const grown = (process.memoryUsage().rss - before) / 1e6;
  console.log(`a client that never reads: the server grew by ${grown.toFixed(0)} MB`);
  greedy.reset();
  return grown;
}
