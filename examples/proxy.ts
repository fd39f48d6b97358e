/**
 * A TCP proxy that passes on how each side hung up: a FIN as a FIN (the other direction goes on,
 * as a client that half-closes after its request expects), a reset as a reset, and a pair silent
 * in both directions for a minute is cut.
 *
 *   npx tsx examples/proxy.ts 6380 127.0.0.1:6379    (listen on 6380, forward to 6379)
 *   deno run -A examples/proxy.ts 6380 127.0.0.1:6379
 *   ... --check     runs an upstream and clients through the proxy once and exits
 */
import process from "node:process";
import { capabilities, type Conn, connect, ConnectionResetError, listen, serve } from "hangup";

const check = process.argv.includes("--check");
const [port = "0", target = "127.0.0.1:6379"] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const IDLE_MS = 60_000;

/**
 * Copies `from` to `to` until `from` ends, awaiting each write (so a slow reader slows the
 * sender: memory stays bounded). `from`'s FIN goes on as `to.closeWrite()`. Any other end of
 * `from` (a reset, a TLS truncation, a timeout) resets `to`, and a write `to` refuses resets
 * `from`: neither peer may take an abrupt end for a finished stream. Resolves with how it ended.
 * (Node 20 and 22 may report a reset that comes after our own FIN as a FIN: docs/runtimes.md.)
 */
export async function pipe(from: Conn, to: Conn, onTraffic: () => void): Promise<"fin" | "broken"> {
  try {
    for await (const chunk of from) {
      onTraffic();
      try {
        await to.write(chunk);
      } catch {
        from.reset();
        return "broken";
      }
    }
  } catch {
    // Also when the other direction broke first and reset `from` here: `to` goes the same way.
    to.reset();
    return "broken";
  }
  try {
    await to.closeWrite();
    return "fin";
  } catch {
    from.reset();
    return "broken";
  }
}

/** Serves one client: connects upstream, pipes both ways, cuts the pair after IDLE_MS of silence. */
export async function proxy(client: Conn, upstream: { hostname: string; port: number }): Promise<void> {
  let server: Conn;
  try {
    server = await connect({ ...upstream, timeout: 5000, noDelay: true });
  } catch {
    client.reset(); // refused or unreachable: the client learns at once
    return;
  }
  // Not idleTimeout: it counts bytes received, and one side of a download receives none.
  let lastTraffic = Date.now();
  const touch = (): void => void (lastTraffic = Date.now());
  const idle = setInterval(() => {
    if (Date.now() - lastTraffic < IDLE_MS) return;
    client.reset();
    server.reset();
  }, IDLE_MS / 4);
  try {
    await Promise.all([pipe(client, server, touch), pipe(server, client, touch)]);
  } finally {
    clearInterval(idle);
    await server.close(); // serve() closes the client's side when this returns
  }
}

const [upstreamHost = "127.0.0.1", upstreamPort = "6379"] = target.split(":");
const listener = await listen({ hostname: "127.0.0.1", port: Number(port), noDelay: true });
console.log("proxy on", listener.addr, "to", target);

if (!check) {
  await serve(listener, (client) => proxy(client, { hostname: upstreamHost, port: Number(upstreamPort) }));
} else {
  // An upstream that reads a request to its end, then answers with what it got and how it ended.
  const upstream = await listen({ hostname: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  let upstreamTarget = { hostname: "127.0.0.1", port: upstream.addr.port };
  const proxying = serve(listener, (client) => proxy(client, upstreamTarget), { signal: stop.signal });
  const endings: string[] = [];
  const serving = serve(upstream, async (conn) => {
    let received = 0;
    try {
      for await (const chunk of conn) received += chunk.length;
      await conn.write(`got ${received} bytes, then a FIN\n`);
    } catch (err) {
      if (!(err instanceof ConnectionResetError)) throw err;
    }
    endings.push(`${received} bytes, ${(await conn.ended).reason}`);
  }, { signal: stop.signal });
  const readAll = async (conn: Conn): Promise<string> => {
    let text = "";
    for await (const chunk of conn) text += new TextDecoder().decode(chunk);
    return text;
  };
  const failures: string[] = [];

  // 1. A request, then the client's FIN: the upstream gets every byte and the FIN, and answers after it.
  const client = await connect({ port: listener.addr.port });
  await client.write(new Uint8Array(1 << 20).fill(7));
  await client.closeWrite();
  const answer = await readAll(client);
  await client.close();
  if (answer !== `got ${1 << 20} bytes, then a FIN\n` || endings[0] !== `${1 << 20} bytes, eof`) {
    failures.push(`half-close: the client got ${JSON.stringify(answer)}, the upstream saw ${endings[0]}`);
  }

  // 2. The client resets mid-request: the upstream sees a reset too (Deno cannot send one: a FIN).
  const aborting = await connect({ port: listener.addr.port });
  await aborting.write("half a requ");
  await new Promise((resolve) => setTimeout(resolve, 200)); // through the proxy to the upstream
  aborting.reset();
  const deadline = Date.now() + 5000;
  while (endings.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const expected = capabilities.reset ? "11 bytes, reset" : "11 bytes, eof";
  if (endings[1] !== expected) failures.push(`client reset: the upstream saw ${endings[1]}, not ${expected}`);

  // 3. The upstream refuses: the client is reset at once, not left waiting.
  upstreamTarget = { hostname: "127.0.0.1", port: 1 };
  const refused = await connect({ port: listener.addr.port });
  const outcome = await readAll(refused).then(() => "eof", (err) => (err instanceof ConnectionResetError ? "reset" : String(err)));
  if (outcome !== (capabilities.reset ? "reset" : "eof")) failures.push(`refused upstream: the client saw ${outcome}`);

  console.log("upstream saw:", endings.join("; "), "| refused upstream, client saw:", outcome);
  stop.abort();
  await Promise.all([proxying, serving]);
  if (failures.length > 0) {
    console.log(failures.join("\n"));
    process.exit(1);
  }
}
