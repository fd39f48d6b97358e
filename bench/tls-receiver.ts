/**
 * TLS throughput, one measurement: `tls-receiver.ts <variant> <bytes> [warm-up bytes]` in the
 * runtime running it. Listens with TLS on 127.0.0.1, prints `READY <port>`, receives `bytes` from
 * one client (bench/tls.mjs starts it), prints `RESULT <json>` with the CPU time spent from the
 * end of the warm-up (the JIT's one-time work) to the end. `native` is the runtime's own TLS server socket: node:tls on Node,
 * Deno.listenTls on Deno, Bun.listen({ tls }) on Bun; `node-tls` is node:tls's own server
 * socket on any runtime (on Deno and Bun: what hangup's engine runs on, without hangup).
 */
import { readFileSync } from "node:fs";
import process from "node:process";

type Runtime = "node" | "deno" | "bun";
const runtime: Runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const [variant, bytesText, warmUpText] = process.argv.slice(2) as [string, string, string?];
const warmUp = Number(warmUpText ?? 0);
const expected = Number(bytesText);
const pem = (name: string): string => readFileSync(new URL(`../test/fixtures/tls/${name}`, import.meta.url), "utf8");
const cert = pem("server.pem");
const key = pem("server.key");

// deno-lint-ignore no-explicit-any
type Any = any;
const g = globalThis as Any;
const cpu = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** CPU seconds of the main thread alone (Linux: its schedstat), or NaN: the process total also counts the JIT's threads. */
const mainCpu = (): number => {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
  } catch {
    return NaN;
  }
};

let received = 0;
let timedFrom = -1;
let startCpu = 0;
let startMainCpu = 0;
let startWall = 0;
const onBytes = (n: number): void => {
  if (timedFrom < 0 && received >= warmUp) {
    timedFrom = received;
    startCpu = cpu();
    startMainCpu = mainCpu();
    startWall = performance.now();
  }
  received += n;
};
const finish = (how: string): never => {
  const cpuSeconds = cpu() - startCpu;
  const mainCpuSeconds = mainCpu() - startMainCpu;
  const wallSeconds = (performance.now() - startWall) / 1000;
  const timed = received - Math.max(timedFrom, 0);
  const gib = timed / 2 ** 30;
  console.log(
    `RESULT ${
      JSON.stringify({
        runtime,
        variant,
        received,
        how,
        cpuSecondsPerGiB: cpuSeconds / gib,
        mainCpuSecondsPerGiB: mainCpuSeconds / gib,
        wallMiBps: timed / 2 ** 20 / wallSeconds,
      })
    }`,
  );
  process.exit(received === expected ? 0 : 1);
};

if (variant === "hangup") {
  const hangup = (await import(`../adapters/${runtime}.ts`)) as typeof import("../adapters/node.ts");
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, tls: { cert, key } });
  console.log(`READY ${listener.addr.port}`);
  const conn = (await listener.accept())!;
  try {
    for await (const chunk of conn) onBytes(chunk.length);
    finish("eof");
  } catch (err) {
    finish(String(err));
  }
} else if (variant === "duplex-tls" || variant === "duplex-tls-await") {
  // node:tls over a JavaScript stream fed from the runtime's own TCP socket, without hangup:
  // the design hangup's TLS uses (it keeps the TCP socket to tell FIN from RST), at its floor.
  const net = await import("node:net");
  const tls = await import("node:tls");
  const { Duplex } = await import("node:stream");
  const context = tls.createSecureContext({ cert, key });
  const server = net.createServer((tcp) => {
    const wire = new Duplex({
      read: () => void tcp.resume(),
      write: (chunk: Buffer, _encoding, done) => void tcp.write(chunk, done),
    });
    tcp.on("data", (chunk: Buffer) => {
      if (!wire.push(chunk)) tcp.pause();
    });
    tcp.on("end", () => wire.push(null));
    tcp.on("error", (err) => finish(String(err)));
    const socket = new tls.TLSSocket(wire as never, { isServer: true, secureContext: context });
    if (variant === "duplex-tls") socket.on("data", (chunk: Buffer) => onBytes(chunk.length));
    else {
      // Each decrypted chunk handed to a loop that awaits a promise per chunk, as a `for await`
      // consumer does (no buffer limit, no end or error handling): the least that costs.
      const queue: (Buffer | null)[] = [];
      let wake: (() => void) | undefined;
      const hand = (item: Buffer | null): void => {
        queue.push(item);
        const w = wake;
        wake = undefined;
        w?.();
      };
      socket.on("data", (chunk: Buffer) => hand(chunk));
      socket.on("end", () => hand(null));
      void (async () => {
        for (;;) {
          while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          const chunk = queue.shift()!;
          if (chunk === null) return finish("end");
          onBytes(chunk.length);
        }
      })();
    }
    if (variant === "duplex-tls") socket.on("end", () => finish("end"));
    socket.on("error", (err) => finish(String(err)));
  });
  server.listen(0, "127.0.0.1", () => console.log(`READY ${(server.address() as { port: number }).port}`));
} else if (runtime === "node" || variant === "node-tls") {
  const tls = await import("node:tls");
  const server = tls.createServer({ cert, key }, (socket) => {
    socket.on("data", (chunk: Buffer) => onBytes(chunk.length));
    socket.on("end", () => finish("end"));
    socket.on("error", (err) => finish(String(err)));
  });
  server.listen(0, "127.0.0.1", () => console.log(`READY ${(server.address() as { port: number }).port}`));
} else if (runtime === "deno") {
  const listener = g.Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  console.log(`READY ${listener.addr.port}`);
  const conn = await listener.accept();
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      onBytes(n);
    }
    finish("eof");
  } catch (err) {
    finish(String(err));
  }
} else {
  const server = g.Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert, key },
    socket: {
      data: (_socket: unknown, chunk: Uint8Array) => onBytes(chunk.length),
      end: () => finish("end"),
      close: (_socket: unknown, err?: unknown) => finish(err ? String(err) : "close"),
    },
  });
  console.log(`READY ${server.port}`);
}
