/**
 * A protocol sniffer: wait for the first 4 bytes with `peek({ bytes: 4 })` (they may arrive
 * one at a time), answer the protocol it speaks itself (PING), hand HTTP to the runtime's own
 * HTTP server with no byte lost or repeated (examples/handoff/), and anything else, with the
 * bytes already read, to other code through `unwrap()`.
 *
 *   npx tsx examples/sniffer.ts [port]
 *   ... --check        PING dripped a byte at a time, HTTP dripped and by fetch, then something else
 */
import * as http from "node:http";
import process from "node:process";
import { type Conn, connect, listen, runtime, serve } from "hangup";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0);
const handedOver: { buffered: Uint8Array; native: unknown }[] = [];

const { handOffToHttp } = (await import(`./handoff/${runtime}.ts`)) as { handOffToHttp: (conn: Conn, server: http.Server) => void };
const web = http.createServer((req, res) => res.end(`hello from ${runtime}'s HTTP server: ${req.method} ${req.url}\n`));
// Deno's node:http closes handed-over connections after one response unless it listens too.
if (runtime === "deno") await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
const webSockets = new Set<{ destroy(): void }>();
web.on("connection", (socket: { destroy(): void }) => void webSockets.add(socket));

const listener = await listen({ hostname: "127.0.0.1", port });
console.log("sniffer on", listener.addr);
const stop = new AbortController();
const server = serve(listener, async (conn) => {
  // Four bytes, however they arrive: a plain peek() could see just "G" or "P".
  // A client that says less than that in 5 s is dropped without a word (serve() closes it).
  const head = await conn.peek({ bytes: 4, signal: AbortSignal.timeout(5000) }).catch((err: unknown) => {
    if (err instanceof DOMException && err.name === "TimeoutError") return null;
    throw err;
  });
  if (head === null) return;
  const first = new TextDecoder().decode(head.subarray(0, 4));
  if (first === "PING") {
    await conn.readUntil("\n");
    await conn.write("PONG\n");
  } else if (/^(GET |HEAD|POST|PUT |DELE|PATC|OPTI)$/.test(first)) {
    handOffToHttp(conn, web);
  } else {
    // Not ours: the raw socket and its read-ahead bytes go to whoever speaks this protocol.
    const taken = conn.unwrap();
    handedOver.push(taken);
    console.log(`handed over a connection with ${taken.buffered.length} bytes read ahead`);
  }
}, { signal: stop.signal });

/** Writes `text` in pieces of `piece` bytes, pausing between them. */
async function drip(conn: Conn, text: string, piece: number): Promise<void> {
  for (let at = 0; at < text.length; at += piece) {
    await conn.write(text.slice(at, at + piece));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

if (check) {
  const at = { port: listener.addr.port };
  const pinger = await connect(at);
  await drip(pinger, "PING\n", 1);
  const pong = new TextDecoder().decode((await pinger.readUntil("\n"))!);
  console.log("PING answered with", JSON.stringify(pong));

  const browser = await connect(at);
  await drip(browser, "GET /dripped HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1);
  let dripped = "";
  for await (const chunk of browser) dripped += new TextDecoder().decode(chunk);
  const body = dripped.slice(dripped.indexOf("\r\n\r\n") + 4);
  console.log("dripped HTTP answered with", JSON.stringify(body));
  const fetched = await (await fetch(`http://127.0.0.1:${at.port}/fetched`)).text();
  console.log("fetch answered with", JSON.stringify(fetched));

  const other = await connect(at);
  await other.write("\x16\x03\x01 not a ping");
  while (handedOver.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const text = new TextDecoder().decode(handedOver[0]!.buffered);
  console.log("the new owner starts with", JSON.stringify(text));
  await Promise.all([pinger.close(), browser.close(), other.close()]);
  const native = handedOver[0]!.native as { destroy?: () => void; terminate?: () => void; close?: () => void };
  if (native.destroy) native.destroy();
  else if (native.terminate) native.terminate();
  else native.close?.();
  for (const socket of webSockets) socket.destroy();
  web.close();
  stop.abort();
  await server;
  const ok = pong === "PONG\n" && text === "\x16\x03\x01 not a ping" &&
    body === `hello from ${runtime}'s HTTP server: GET /dripped\n` && fetched === `hello from ${runtime}'s HTTP server: GET /fetched\n`;
  if (!ok) process.exit(1);
}
