// Type-checked by scripts/test-package.mjs against the packed tarball with `deno check`:
// "hangup" must give the Deno adapter's declarations. Never run. No casts.
import type { TLSSocket } from "node:tls";
import { type Conn, connect, listen, runtime, startTls, wrap } from "hangup";

export async function consumer(): Promise<void> {
  const listener = await listen({ hostname: "127.0.0.1", port: 0 });
  const port: number = listener.addr.port;
  const denoConn = await Deno.connect({ hostname: "127.0.0.1", port });
  const conn: Conn<Deno.Conn> = wrap(denoConn);
  const native: Deno.Conn = conn.unwrap().native;
  const other: Deno.Conn = (await connect({ port })).unwrap().native;
  const line = await conn.readUntil("\n");
  if (line) console.log(new Response(line).status, await crypto.subtle.digest("SHA-256", line));
  const ended = await conn.ended;
  if (ended.reason === "idle") console.log(ended.error.code === "ERR_IDLE_TIMEOUT");
  if (runtime === "node") console.log("runtime is the union of the four names");
  // Over TLS, native is the node:tls socket hangup runs over the Deno.Conn, not a Deno.Conn.
  const secure: TLSSocket = (await connect({ port, tls: true })).unwrap().native;
  const upgraded: TLSSocket = (await startTls(conn)).unwrap().native;
  const tlsListener = await listen({ port: 0, tls: { cert: "PEM", key: "PEM" } });
  for await (const accepted of tlsListener) accepted.unwrap().native.destroy();
  // @ts-expect-error a TLS connection's native is not a Deno.Conn
  const wrong: Deno.Conn = (await connect({ port, tls: true })).unwrap().native;
  native.close();
  other.close();
  secure.destroy();
  upgraded.destroy();
  console.log(wrong);
}
