/**
 * A real PostgreSQL server on loopback, made for one test: `initdb` into a fresh directory (user
 * `hangup`, trusted, or with a password for SCRAM-SHA-256), then `postgres` with TLS from the test-only certificates, or
 * with `ssl = off`. As root it runs as the `postgres` user (PostgreSQL refuses to run as root).
 * Fails, never skips, where PostgreSQL is not installed (Debian: apt-get install postgresql).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { freePort } from "./free-port.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

export interface PostgresServer {
  port: number;
  /** The postmaster. */
  process: ChildProcess;
  /** SIGQUIT (immediate shutdown), wait for the exit, remove the directory. */
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** TLS on (the test-only server certificate, valid for 127.0.0.1 and localhost); default true. */
  ssl?: boolean;
  /** The password of user `hangup`: TCP logins then need it, by SCRAM-SHA-256 (default: trust, no password). */
  password?: string;
}

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

/** The directory of PostgreSQL's server programs: `pg_config --bindir`, else Debian's newest /usr/lib/postgresql/N/bin. */
function binDir(): string {
  const pgConfig = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  const fromConfig = pgConfig.status === 0 ? pgConfig.stdout.trim() : "";
  if (fromConfig && existsSync(join(fromConfig, "initdb"))) return fromConfig;
  const debian = "/usr/lib/postgresql";
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) if (existsSync(join(debian, version, "bin", "initdb"))) return join(debian, version, "bin");
  throw new Error("PostgreSQL's server is not installed (Debian: apt-get install postgresql)");
}

/** As root: the uid and gid of `postgres`, which the server runs as. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
  const uid = id("-u");
  if (!Number.isInteger(uid) || uid <= 0) throw new Error("running as root, and there is no postgres user to run PostgreSQL as");
  return { uid, gid: id("-g") };
}

/** `program args` as the server's user: through setpriv when we are root (it execs, so signals reach the program). */
function asServerUser(user: { uid: number; gid: number } | undefined, program: string, args: string[]): [string, string[]] {
  return user ? ["setpriv", [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", program, ...args]] : [program, args];
}

/** The C locale: English log lines (what startup waits for) and untranslated messages, whatever the machine's. */
const C_LOCALE = { ...process.env, LC_ALL: "C", LANG: "C" };

/** Servers still running: stopped if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Starts `postgres` on `port`; resolves once it is ready, rejects with its log if it exits or is not ready within 20 s. */
async function serve(program: string, args: string[]): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"], env: C_LOCALE });
  running.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      running.delete(child);
      resolve();
    })
  );
  await new Promise<void>((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`postgres was not ready within 20 s:\n${log}`));
    }, 20_000);
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (!log.includes("ready to accept connections")) return;
      clearTimeout(timer);
      resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited (${code ?? signal}) before it was ready:\n${log}`));
    });
  }).catch(async (err: unknown) => {
    await exited;
    throw err;
  });
  return { child, exited };
}

/** Starts a fresh server; rejects with its log if it is not ready within 20 s. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = binDir();
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), "hangup-pg-"));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const cert = join(dir, "server.pem");
    const key = join(dir, "server.key");
    copyFileSync(fixture("server.pem"), cert);
    copyFileSync(fixture("server.key"), key);
    chmodSync(key, 0o600); // PostgreSQL refuses a key others can read
    const pwfile = join(dir, "password");
    writeFileSync(pwfile, options.password ?? "", { mode: 0o600 });
    if (user) { for (const path of [dir, cert, key, pwfile]) chownSync(path, user.uid, user.gid); }
    const auth = options.password === undefined
      ? ["-A", "trust"]
      : ["--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`];
    const [initdb, initArgs] = asServerUser(user, join(bin, "initdb"), [
      "-D",
      join(dir, "data"),
      ...auth,
      "-U",
      "hangup",
      "--no-sync",
      "-E",
      "UTF8",
      "--no-locale",
    ]);
    const init = spawnSync(initdb, initArgs, { encoding: "utf8", env: C_LOCALE });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal}):\n${init.stdout}${init.stderr}`);
    // Another process may take the free port before postgres binds it: three tries, as for Redis.
    let started: { child: ChildProcess; exited: Promise<void>; port: number } | undefined;
    for (let attempt = 0; !started; attempt++) {
      const port = await freePort();
      const settings = [
        "listen_addresses=127.0.0.1",
        `ssl=${options.ssl === false ? "off" : "on"}`,
        `ssl_cert_file=${cert}`,
        `ssl_key_file=${key}`,
        "fsync=off",
        "max_connections=20",
        "shared_buffers=16MB",
        "lc_messages=C",
      ].flatMap((setting) => ["-c", setting]);
      const [program, args] = asServerUser(user, join(bin, "postgres"), [
        "-D",
        join(dir, "data"),
        "-k",
        dir,
        "-p",
        String(port),
        ...settings,
      ]);
      try {
        started = { ...(await serve(program, args)), port };
      } catch (err) {
        if (attempt === 2) throw err;
      }
    }
    const { child, exited, port } = started;
    return {
      port,
      process: child,
      async stop() {
        // Immediate shutdown: the postmaster stops its backends at once.
        child.kill("SIGQUIT");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killer);
        remove();
      },
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Runs `body` with a fresh server, stopped and removed afterwards whatever happens. */
export async function withPostgres(body: (server: PostgresServer) => Promise<void>, options?: PostgresOptions): Promise<void> {
  const server = await startPostgres(options);
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}
