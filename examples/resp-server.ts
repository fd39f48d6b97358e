/**
 * A Redis-protocol (RESP2) server answering PING, SET and GET from memory: each command decoded
 * with one `await` (`conn.decode`, decoder in examples/resp/decode.ts), replies written without
 * waiting for each, so a pipelining client gets its replies in few writes. Try it with
 * `redis-cli -p <port>` or `redis-benchmark -p <port> -t ping,set,get -P 32`.
 *
 *   npx tsx examples/resp-server.ts [port]    deno run -A examples/resp-server.ts    bun examples/resp-server.ts
 *   ... --check                               sends a pipelined batch once and checks the replies
 */
import process from "node:process";
import { connect, listen, serve } from "hangup";
import { RespStore } from "./resp/decode.ts";
import { serveResp } from "./resp/serve.ts";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 6379);

const store = new RespStore();
const listener = await listen({ hostname: "127.0.0.1", port: check ? 0 : port, noDelay: true, idleTimeout: 300_000 });
console.log("RESP server on", listener.addr);
const stop = new AbortController();
const server = serve(listener, (conn) => serveResp(conn, store), { signal: stop.signal });

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
  stop.abort();
  await server;
  if (replies !== "+PONG\r\n+OK\r\n$5\r\nhello\r\n$-1\r\n") process.exit(1);
}
