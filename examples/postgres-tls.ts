/**
 * A PostgreSQL client over STARTTLS, run: the `SSLRequest`, `startTls` on the same connection,
 * a few queries (`examples/postgres/client.ts` is the client to copy).
 *
 *   npx tsx examples/postgres-tls.ts <host> <port> <user> <database> [ca.pem]   a few queries against your server (password: $PGPASSWORD)
 *   ... --check      starts a local PostgreSQL (ssl = on) with the test certificates and runs against it
 *
 * How the server left is hangup's answer, as for any Conn: a server that ends the session says
 * so with its close_notify (`ended` is `eof`); a backend that dies is a `TlsTruncatedError` (its
 * FIN came without close_notify) or a `ConnectionResetError`, never a short result taken for a
 * whole one.
 */
import process from "node:process";
import { PgClient, PgError, type PgLogin, requestTls } from "./postgres/client.ts";

async function demo(pg: PgClient): Promise<void> {
  console.log("TLS:", pg.conn.tls?.protocol, "server", pg.parameters.get("server_version"), "login:", pg.authentication);
  const { rows } = await pg.query("SELECT n, md5(n::text) FROM generate_series(1, 3) AS n");
  console.log("rows:", rows.map((row) => row.join(" ")).join(", "));
  const failed = await pg.query("SELECT 1 / 0").then(() => undefined, (err: unknown) => err);
  if (!(failed instanceof PgError)) throw new Error(`expected a PgError for 1 / 0, got ${String(failed)}`);
  console.log(`error ${failed.code}: ${failed.message}`);
  const big = await pg.query("SELECT repeat('x', 1000000) AS big");
  if (big.rows[0]?.[0]?.length !== 1_000_000) throw new Error("the 1 MB value did not arrive whole");
  console.log("a 1 MB value arrived whole");
  await pg.close();
  console.log("the server ended the session:", (await pg.conn.ended).reason);
}

const isMain = /postgres-tls\.ts$/.test(process.argv[1] ?? "");
if (isMain) {
  const { connect, startTls } = await import("hangup");
  const { readFileSync } = await import("node:fs");
  const run = async (hostname: string, port: number, login: PgLogin, ca: string | undefined, serverName = hostname): Promise<void> => {
    const plain = await connect({ hostname, port, idleTimeout: 30_000 });
    try {
      await requestTls(plain);
    } catch (err) {
      plain.reset();
      throw err;
    }
    // The upgraded connection keeps the plaintext one's options (its idleTimeout).
    const conn = await startTls(plain, { serverName, ...(ca === undefined ? {} : { ca }) });
    await demo(await PgClient.login(conn, login));
  };
  if (process.argv.includes("--check")) {
    // A local PostgreSQL with the test-only certificates (test/fixtures/tls; never use them elsewhere).
    const { withPostgres } = await import("../test/support/postgres.ts");
    const ca = readFileSync(new URL("../test/fixtures/tls/ca.pem", import.meta.url), "utf8");
    const password = "example only";
    await withPostgres(({ port }) => run("127.0.0.1", port, { user: "hangup", database: "postgres", password }, ca, "localhost"), {
      password,
    });
  } else {
    const [hostname = "localhost", port = "5432", user = "postgres", database = user, caFile] = process.argv.slice(2);
    const password = process.env.PGPASSWORD;
    await run(
      hostname,
      Number(port),
      { user, database, ...(password ? { password } : {}) },
      caFile ? readFileSync(caFile, "utf8") : undefined,
    );
  }
}
