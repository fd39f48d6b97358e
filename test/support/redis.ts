/** A real `redis-server` on loopback with TLS on an ephemeral port, using the test-only certificates. */
import { type ChildProcess, spawn } from "node:child_process";
import { freePort } from "./free-port.ts";
import { fileURLToPath } from "node:url";

const cert = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

export interface RedisServer {
  port: number;
  process: ChildProcess;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
}

/** One attempt on one port: resolves once redis logs that it is ready, rejects if it exits or stays silent 10 s. */
function startOn(port: number): Promise<RedisServer> {
  const child = spawn("redis-server", [
    "--port",
    "0",
    "--bind",
    "127.0.0.1",
    "--tls-port",
    String(port),
    "--save",
    "",
    "--appendonly",
    "no",
    "--tls-cert-file",
    cert("server.pem"),
    "--tls-key-file",
    cert("server.key"),
    "--tls-ca-cert-file",
    cert("ca.pem"),
    "--tls-auth-clients",
    "no",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise<RedisServer>((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server was not ready within 10 s:\n${log}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (!log.includes("Ready to accept connections")) return;
      clearTimeout(timer);
      resolve({
        port,
        process: child,
        async kill() {
          child.kill("SIGKILL");
          await exited;
        },
      });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new Error(
          err.code === "ENOENT" ? "redis-server is not installed (Debian: apt-get install redis-server)" : `redis-server: ${err.message}`,
          { cause: err },
        ),
      );
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${log}`));
    });
  });
}

/** Starts redis-server (3 attempts, in case another process takes the free port first). Throws, never skips, when it is absent. */
export async function startRedis(): Promise<RedisServer> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOn(await freePort());
    } catch (err) {
      last = err;
      if ((err as Error).message.includes("not installed")) break;
    }
  }
  throw last;
}

/** Runs `body` with a fresh redis-server, killed afterwards whatever happens. */
export async function withRedis(body: (redis: RedisServer) => Promise<void>): Promise<void> {
  const redis = await startRedis();
  try {
    await body(redis);
  } finally {
    await redis.kill();
  }
}
