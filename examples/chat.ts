/**
 * A line-protocol chat: every line goes to everyone else. Heartbeats keep quiet
 * clients' idle timers fed; a client that vanishes without a word is dropped by
 * the idle timeout; an endless line is refused, never buffered.
 *
 *   npx tsx examples/chat.ts [port]    (try it with: nc 127.0.0.1 <port>)
 *   ... --check                        two clients chat once, then it exits
 */
import process from "node:process";
import { type Conn, connect, IdleTimeoutError, LimitExceededError, listen, serve } from "hangup";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0);

const members = new Set<Conn>();
const listener = await listen({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 30_000, // nothing for 30 s (not even a PONG): the client is gone
  heartbeat: { interval: 10_000, message: "PING\n" },
});
console.log("chat on", listener.addr);

const stop = new AbortController();
const server = serve(listener, async (conn) => {
  const peer = conn.remoteAddr;
  const name = peer.transport === "tcp" ? `${peer.port}` : peer.path;
  members.add(conn);
  try {
    for await (const line of conn.lines({ maxBytes: 1024 })) {
      if (line === "PONG") continue;
      for (const other of members) if (other !== conn) other.write(`${name}: ${line}\n`).catch(() => {});
    }
  } catch (err) {
    if (err instanceof IdleTimeoutError) console.log(name, "vanished");
    else if (err instanceof LimitExceededError) await conn.write("line too long, bye\n").catch(() => {});
    else console.log(name, "left:", (await conn.ended).reason);
  } finally {
    members.delete(conn);
  }
}, { signal: stop.signal });

if (check) {
  const at = { port: listener.addr.port };
  const [alice, bob] = await Promise.all([connect(at), connect(at)]);
  while (members.size < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  await alice.write("hi bob\n");
  const heard = new TextDecoder().decode((await bob.readUntil("\n"))!);
  console.log("bob heard:", JSON.stringify(heard));
  await Promise.all([alice.close(), bob.close()]);
  stop.abort();
  await server;
  if (!heard.endsWith(": hi bob\n")) process.exit(1);
}
