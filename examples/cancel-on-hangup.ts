/**
 * A server that stops expensive work the moment the client goes away: `conn.signal`
 * aborts when the peer closes or resets, without any read pending.
 *
 *   npx tsx examples/cancel-on-hangup.ts [port]
 *   ... --check                        a client asks, then hangs up before the answer
 */
import process from "node:process";
import { connect, listen, serve } from "hangup";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0);

/** Stands for any slow job (a query, a render) that takes an AbortSignal. */
async function expensiveWork(signal: AbortSignal): Promise<string> {
  for (let step = 0; step < 50; step++) {
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return "42\n";
}

const listener = await listen({ hostname: "127.0.0.1", port });
console.log("server on", listener.addr);
const stop = new AbortController();
let cancelled = "";
const server = serve(listener, async (conn) => {
  await conn.readUntil("\n");
  const started = Date.now();
  try {
    await conn.write(await expensiveWork(conn.signal));
  } catch (err) {
    if (!conn.signal.aborted) throw err;
    cancelled = `work cancelled after ${Date.now() - started} ms: the client ${
      (await conn.ended).reason === "reset" ? "reset" : "closed"
    } the connection`;
    console.log(cancelled);
  }
}, { signal: stop.signal });

if (check) {
  const conn = await connect({ port: listener.addr.port });
  await conn.write("what is the answer?\n");
  await new Promise((resolve) => setTimeout(resolve, 300));
  conn.reset(); // the impatient client
  while (!cancelled) await new Promise((resolve) => setTimeout(resolve, 20));
  stop.abort();
  await server;
}
