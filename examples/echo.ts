/**
 * An echo server: every byte back, until the client closes (FIN) or resets (RST).
 *
 *   npx tsx examples/echo.ts [port]    deno run -A examples/echo.ts
 *   bun --tsconfig-override=tsconfig.bun-run.json examples/echo.ts   (in a clone, so that "hangup" is the Bun adapter)
 *   ... --check                        runs a client against it once and exits
 */
import process from "node:process";
import { connect, ConnectionResetError, listen, serve } from "hangup";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0);

const listener = await listen({ hostname: "127.0.0.1", port, idleTimeout: 60_000 });
console.log("echo server on", listener.addr);
const stop = new AbortController();
const server = serve(listener, async (conn) => {
  try {
    for await (const chunk of conn) await conn.write(chunk);
    console.log("client closed (FIN)");
  } catch (err) {
    if (err instanceof ConnectionResetError) console.log("client reset the connection (RST)");
    else throw err;
  }
}, { signal: stop.signal });

if (check) {
  const conn = await connect({ port: listener.addr.port });
  await conn.write("hello, echo\n");
  await conn.closeWrite(); // half-close: the server sees EOF and still gets to answer
  let echoed = "";
  for await (const chunk of conn) echoed += new TextDecoder().decode(chunk);
  console.log("echoed:", JSON.stringify(echoed));
  await conn.close();
  stop.abort();
  await server;
  if (echoed !== "hello, echo\n") process.exit(1);
}
