/**
 * A protocol sniffer: `peek` at the first bytes without consuming them, answer the
 * protocols it speaks itself, and hand any other connection, with the bytes already
 * read, to other code through `unwrap()`.
 *
 *   npx tsx examples/sniffer.ts [port]
 *   ... --check                        one client speaks PING, one speaks something else
 */
import process from "node:process";
import { connect, listen, serve } from "hangup";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0);
const handedOver: { buffered: Uint8Array; native: unknown }[] = [];

const listener = await listen({ hostname: "127.0.0.1", port });
console.log("sniffer on", listener.addr);
const stop = new AbortController();
const server = serve(listener, async (conn) => {
  const first = await conn.peek({ signal: AbortSignal.timeout(5000) });
  if (first === null) return;
  if (new TextDecoder().decode(first).startsWith("PING")) {
    await conn.readUntil("\n");
    await conn.write("PONG\n");
    return;
  }
  // Not ours: the raw socket and its read-ahead bytes go to whoever speaks this protocol.
  const taken = conn.unwrap();
  handedOver.push(taken);
  console.log(`handed over a connection with ${taken.buffered.length} bytes read ahead`);
}, { signal: stop.signal });

if (check) {
  const at = { port: listener.addr.port };
  const pinger = await connect(at);
  await pinger.write("PING\n");
  const pong = new TextDecoder().decode((await pinger.readUntil("\n"))!);
  console.log("PING answered with", JSON.stringify(pong));
  const other = await connect(at);
  await other.write("\x16\x03\x01 not a ping");
  while (handedOver.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const text = new TextDecoder().decode(handedOver[0]!.buffered);
  console.log("the new owner starts with", JSON.stringify(text));
  await Promise.all([pinger.close(), other.close()]);
  const native = handedOver[0]!.native as { destroy?: () => void; close?: () => void; end?: () => void };
  if (native.destroy) native.destroy();
  else if (native.close) native.close();
  else native.end?.();
  stop.abort();
  await server;
  if (pong !== "PONG\n" || text !== "\x16\x03\x01 not a ping") process.exit(1);
}
