/**
 * STARTTLS against a real PostgreSQL server: examples/postgres/client.ts asks for TLS with an
 * `SSLRequest`, upgrades the same connection with `startTls`, and speaks the simple query
 * protocol. How the server leaves is hangup's answer: its close_notify is `eof`, a backend killed
 * mid-query is a truncation, a certificate that does not verify is a `TlsHandshakeError`. Fails,
 * never skips, where PostgreSQL is missing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import process from "node:process";
import { type Conn, TlsHandshakeError, TlsTruncatedError } from "../../src/index.ts";
import { PgClient, PgError, requestTls } from "../../examples/postgres/client.ts";
import { rejection, within } from "../support/fixtures.ts";
import { describe, test } from "../support/harness.ts";
import { type PostgresServer, withPostgres } from "../support/postgres.ts";
import { hangup } from "../support/runtime.ts";
import { CERTS, hasTls, pem, type TlsAdapter, tlsAdapter } from "../support/tls.ts";

const LOGIN = { user: "hangup", database: "postgres" };

/** A plaintext connection, the SSLRequest, then `startTls` with `tls` (default: trust the test CA, verify "localhost"). */
async function upgraded(server: PostgresServer, tls: Parameters<TlsAdapter["startTls"]>[1] = {}): Promise<Conn> {
  const plain = await hangup.connect({ hostname: "127.0.0.1", port: server.port, idleTimeout: 20_000 });
  await requestTls(plain);
  return tlsAdapter.startTls(plain, { serverName: "localhost", ca: CERTS.ca, ...tls });
}

async function session(server: PostgresServer): Promise<PgClient> {
  return PgClient.login(await upgraded(server), LOGIN);
}

const md5 = (text: string): string => createHash("md5").update(text).digest("hex");

/** Waits (5 s at most) until backend `pid` sleeps in pg_sleep: its query was read, nothing of ours is unread. */
async function untilSleeping(admin: PgClient, pid: number): Promise<void> {
  assert.ok(pid > 0, `a backend pid from BackendKeyData, got ${pid}`);
  for (let i = 0; i < 100; i++) {
    const { rows } = await admin.query(`SELECT wait_event FROM pg_stat_activity WHERE pid = ${pid}`);
    if (rows[0]?.[0] === "PgSleep") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`backend ${pid} never slept in pg_sleep`);
}

/** A session whose query sleeps in pg_sleep (the backend has read it), and a second session to watch or end it. */
async function sleepingQuery(server: PostgresServer): Promise<{ pg: PgClient; admin: PgClient; sleeping: Promise<unknown> }> {
  const pg = await session(server);
  const admin = await session(server);
  const sleeping = rejection(pg.query("SELECT pg_sleep(30)"));
  await untilSleeping(admin, pg.backendPid);
  return { pg, admin, sleeping };
}

/** Cases start a server each (initdb included): a generous bound for a loaded machine. */
const SLOW = { timeout: 60_000 };

describe("PostgreSQL over STARTTLS: examples/postgres/client.ts against a real server", () => {
  test(
    "SSLRequest, then startTls on the same connection: rows, an error's SQLSTATE, a 4 MB value whole; Terminate ends with the server's close_notify (eof)",
    () =>
      withPostgres(async (server) => {
        assert.ok(hasTls, "this runtime's adapter has TLS");
        const pg = await session(server);
        assert.equal(pg.conn.tls?.protocol, "TLSv1.3");
        assert.equal(pg.conn.tls?.serverName, "localhost");
        assert.match(pg.parameters.get("server_version") ?? "", /^\d+/);
        const { columns, rows, command } = await pg.query("SELECT n, md5(n::text) AS hash FROM generate_series(1, 1000) AS n");
        assert.deepEqual(columns, ["n", "hash"]);
        assert.equal(command, "SELECT 1000");
        assert.equal(rows.length, 1000);
        for (const [i, row] of rows.entries()) {
          if (row[0] !== String(i + 1) || row[1] !== md5(String(i + 1))) assert.fail(`row ${i}: ${row.join(" ")}`);
        }
        const err = await rejection(pg.query("SELECT 1 / 0"));
        assert.ok(err instanceof PgError && err.code === "22012", `division by zero is SQLSTATE 22012, got ${String(err)}`);
        const big = await pg.query("SELECT repeat('hangup', 700000) AS big, md5(repeat('hangup', 700000)) AS hash, NULL AS nothing");
        const [value, hash, nothing] = big.rows[0]!;
        assert.equal(value?.length, 4_200_000, "the value crossed many TLS records and reads, and came whole");
        assert.equal(md5(value!), hash, "its bytes are the server's");
        assert.equal(nothing, null);
        assert.equal((await pg.query("SELECT 'after' AS next")).rows[0]?.[0], "after", "the decoder kept no bytes of the last result");
        await within(10_000, pg.close(), "the session's end");
        assert.deepEqual(await pg.conn.ended, { reason: "eof" }, "PostgreSQL ends a session with close_notify, then FIN");
      }),
    SLOW,
  );

  test(
    "pg_terminate_backend from another session: the waiting query rejects with FATAL 57P01, then the server's close_notify: eof, not a truncation",
    () =>
      withPostgres(async (server) => {
        const { pg: victim, admin, sleeping } = await sleepingQuery(server);
        assert.deepEqual((await admin.query(`SELECT pg_terminate_backend(${victim.backendPid})`)).rows, [["t"]]);
        const err = await within(10_000, sleeping, "the terminated session's query");
        assert.ok(err instanceof PgError && err.code === "57P01" && err.severity === "FATAL", `expected FATAL 57P01, got ${String(err)}`);
        assert.deepEqual(await within(10_000, victim.conn.ended, "the terminated session's end"), { reason: "eof" });
        victim.conn.reset();
        await admin.close();
      }),
    SLOW,
  );

  test(
    "a backend killed (SIGKILL) mid-query: its FIN came without close_notify, so the query rejects with TlsTruncatedError, never a short result",
    () =>
      withPostgres(async (server) => {
        const { pg, admin, sleeping } = await sleepingQuery(server);
        admin.conn.reset();
        process.kill(pg.backendPid, "SIGKILL");
        const err = await within(10_000, sleeping, "the query after its backend was killed");
        assert.ok(err instanceof TlsTruncatedError, `expected TlsTruncatedError, got ${String(err)}`);
        assert.equal(err.code, "ERR_TLS_TRUNCATED");
        assert.equal((await pg.conn.ended).reason, "truncated");
        pg.conn.reset();
      }),
    SLOW,
  );

  test(
    "a certificate that does not verify (another CA, another name): startTls rejects with TlsHandshakeError; the server still serves the next client",
    () =>
      withPostgres(async (server) => {
        const otherCa = await rejection(upgraded(server, { ca: pem("selfsigned.pem") }));
        assert.ok(otherCa instanceof TlsHandshakeError, `expected TlsHandshakeError for an unknown CA, got ${String(otherCa)}`);
        const otherName = await rejection(upgraded(server, { serverName: "db.example" }));
        assert.ok(otherName instanceof TlsHandshakeError, `expected TlsHandshakeError for a wrong name, got ${String(otherName)}`);
        const pg = await session(server);
        assert.deepEqual((await pg.query("SELECT 1 AS one")).rows, [["1"]]);
        await pg.close();
      }),
    SLOW,
  );

  test(
    "a server with ssl = off answers N: requestTls rejects with PgError, and the same connection logs in in plaintext (the one byte read, nothing lost)",
    () =>
      withPostgres(async (server) => {
        const plain = await hangup.connect({ hostname: "127.0.0.1", port: server.port, idleTimeout: 20_000 });
        const err = await rejection(requestTls(plain));
        assert.ok(err instanceof PgError && /refused TLS \(it answered "N"/.test(err.message), `got ${String(err)}`);
        assert.equal(plain.tls, undefined, "still plaintext");
        const pg = await PgClient.login(plain, LOGIN);
        assert.deepEqual((await pg.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows, [["f"]]);
        await pg.close();
      }, { ssl: false }),
    SLOW,
  );

  test(
    "SCRAM-SHA-256-PLUS: the login is bound to the TLS connection by a hash of conn.tls.peerCertificate, and the server accepts it; a wrong password is FATAL 28P01",
    () =>
      withPostgres(async (server) => {
        const pg = await PgClient.login(await upgraded(server), { ...LOGIN, password: "s3cret" });
        assert.equal(pg.authentication, "SCRAM-SHA-256-PLUS", "PostgreSQL offers channel binding over TLS, and the client took it");
        const { rows } = await pg.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        assert.deepEqual(rows, [["t", "TLSv1.3"]], "the server sees this session over TLS 1.3");
        await pg.close();
        const wrong = await rejection(PgClient.login(await upgraded(server), { ...LOGIN, password: "wrong" }));
        assert.ok(wrong instanceof PgError && wrong.code === "28P01", `a wrong password is SQLSTATE 28P01, got ${String(wrong)}`);
      }, { password: "s3cret" }),
    SLOW,
  );
});
