/**
 * The Worker under test, run by real workerd: each request runs one client-side case
 * with hangup's Workers adapter against the test peer and answers what it observed.
 * GET /run?case=<name>&port=<peer port>
 */
import {
  capabilities,
  type Conn,
  connect,
  ConnectionRefusedError,
  ConnectionResetError,
  IdleTimeoutError,
  SocketError,
  startTls,
  TlsHandshakeError,
  TlsTruncatedError,
  UnexpectedEofError,
} from "../../adapters/workerd.ts";
import { PgClient, requestTls } from "../../examples/postgres/client.ts";
import { concat } from "../support/bytes.ts";

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { thrown: String(err) };
  return {
    name: err.name,
    code: (err as { code?: unknown }).code,
    message: err.message,
    isSocketError: err instanceof SocketError,
    isReset: err instanceof ConnectionResetError,
    isRefused: err instanceof ConnectionRefusedError,
    isIdle: err instanceof IdleTimeoutError,
    isUnexpectedEof: err instanceof UnexpectedEofError,
    isHandshake: err instanceof TlsHandshakeError,
    isTruncated: err instanceof TlsTruncatedError,
    isTypeError: err instanceof TypeError,
    partial: err instanceof UnexpectedEofError ? err.partial.length : undefined,
  };
}

/** Every byte until the loop ends or throws. */
async function drain(conn: Conn): Promise<Record<string, unknown>> {
  const chunks: Uint8Array[] = [];
  let error: Record<string, unknown> | undefined;
  try {
    for await (const chunk of conn) chunks.push(chunk);
  } catch (err) {
    error = describeError(err);
  }
  const bytes = concat(chunks);
  const ended = await conn.ended;
  return { length: bytes.length, sha256: await sha256(bytes), error, ended: ended.reason, endedError: ended.error?.name };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : new TextDecoder().decode(bytes));

/**
 * The connection ended by hangup itself (`end`), then the request goes on for `stayMs`: the
 * peer must see the end meanwhile, not when workerd drops the request's sockets.
 */
async function endThenStay(conn: Conn, end: () => Promise<unknown> | void, stayMs = 2500): Promise<Record<string, unknown>> {
  let error: Record<string, unknown> | undefined;
  try {
    await end();
  } catch (err) {
    error = describeError(err);
  }
  const ended = await conn.ended;
  await sleep(stayMs);
  return { ended: ended.reason, endedError: ended.error?.name, error };
}

const cases: Record<string, (port: number) => Promise<unknown>> = {
  async "ends-by-reset"(port) {
    const conn = await connect({ port });
    return endThenStay(conn, () => conn.reset());
  },
  async "ends-by-idle-timeout"(port) {
    const conn = await connect({ port, idleTimeout: 300 });
    return endThenStay(conn, () => conn.ended);
  },
  async "ends-by-idle-timeout-unrefd"(port) {
    // Workers have no process to keep: unref() changes nothing, the timers still run.
    const conn = await connect({ port, idleTimeout: 300 });
    conn.unref();
    return endThenStay(conn, () => conn.ended);
  },
  async "ends-by-signal"(port) {
    const conn = await connect({ port, signal: AbortSignal.timeout(300) });
    return endThenStay(conn, () => conn.ended);
  },
  async "ends-by-write-timeout"(port) {
    const conn = await connect({ port, writeTimeout: 300 });
    return endThenStay(conn, () => conn.write(new Uint8Array(32 * 1024 * 1024)));
  },
  async eof(port) {
    return drain(await connect({ port }));
  },
  async reset(port) {
    return drain(await connect({ port }));
  },
  async "half-close"(port) {
    const conn = await connect({ port });
    await conn.write("request");
    await conn.closeWrite();
    return drain(conn);
  },
  async "write-after-peer-close"(port) {
    const conn = await connect({ port });
    const first = await drain(conn);
    let writeError: Record<string, unknown> | undefined;
    for (let i = 0; i < 40 && !writeError; i++) {
      try {
        await conn.write("late");
      } catch (err) {
        writeError = describeError(err);
      }
      await sleep(50);
    }
    return { ...first, writeError };
  },
  async abort(port) {
    const conn = await connect({ port });
    const reason = new Error("stop waiting");
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 100);
    let same = false;
    try {
      await conn.read({ signal: controller.signal });
    } catch (err) {
      same = err === reason;
    }
    await conn.write("still usable");
    await conn.close();
    return { rejectedWithReason: same };
  },
  async helpers(port) {
    const conn = await connect({ port });
    const header = await conn.readExactly(4);
    const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    const payload = text(await conn.readExactly(length));
    const lines: string[] = [];
    for await (const line of conn.lines({ maxBytes: 64 })) lines.push(line);
    return { length, payload, lines };
  },
  async "unexpected-eof"(port) {
    const conn = await connect({ port });
    try {
      await conn.readExactly(100);
      return { error: undefined };
    } catch (err) {
      return { error: describeError(err) };
    }
  },
  async idle(port) {
    const conn = await connect({ port, idleTimeout: 300 });
    const started = Date.now();
    const info = await conn.ended;
    return { ended: info.reason, error: info.error?.name, elapsed: Date.now() - started };
  },
  async capabilities() {
    return { capabilities, frozen: Object.isFrozen(capabilities) };
  },
  // TLS: workerd trusts the test CA through config.capnp (the network service's trustedCertificates).
  async "tls-drain"(port) {
    const conn = await connect({ port, tls: true });
    return { tls: conn.tls, ...(await drain(conn)) };
  },
  async "tls-close-notify-no-fin"(port) {
    const conn = await connect({ port, tls: true });
    const bytes: Uint8Array[] = [];
    for await (const chunk of conn) bytes.push(chunk);
    const ended = await conn.ended;
    await conn.write("still here");
    await conn.close();
    return { text: text(concat(bytes)), ended: ended.reason };
  },
  async "tls-close"(port) {
    const conn = await connect({ port, tls: true });
    await conn.write("bye");
    await conn.close();
    return { ended: (await conn.ended).reason };
  },
  async "tls-idle"(port) {
    const conn = await connect({ port, tls: true, idleTimeout: 300 });
    const started = Date.now();
    const info = await conn.ended;
    return { ended: info.reason, error: info.error?.name, elapsed: Date.now() - started };
  },
  async "tls-connect-error"(port) {
    const started = Date.now();
    try {
      const conn = await connect({ port, tls: { handshakeTimeout: 500 }, timeout: 5000 });
      conn.reset();
      return { error: undefined };
    } catch (err) {
      return {
        error: { ...describeError(err), causeMessage: ((err as Error).cause as Error | undefined)?.message },
        elapsed: Date.now() - started,
      };
    }
  },
  async "tls-bad-options"(port) {
    const errors: Record<string, unknown>[] = [];
    const attempts: Array<() => Promise<unknown>> = [
      () => connect({ port, tls: { ca: "-----BEGIN CERTIFICATE-----" } }),
      () => connect({ port, tls: { alpnProtocols: ["h2"] } }),
      () => connect({ port, tls: { rejectUnauthorized: false } }),
      () => connect({ port, tls: { serverName: "other.example" } }),
      () => connect({ port, tls: { handshakeTimeout: -1 } }),
    ];
    for (const attempt of attempts) {
      try {
        await attempt();
        errors.push({});
      } catch (err) {
        errors.push(describeError(err));
      }
    }
    return { errors };
  },
  async starttls(port) {
    const plain = await connect({ port });
    await plain.write("STARTTLS\r\n");
    const reply = text(await plain.readUntil("\r\n"));
    const conn = await startTls(plain, { handshakeTimeout: 5000 });
    let plainAfter: Record<string, unknown> | undefined;
    try {
      await plain.read();
    } catch (err) {
      plainAfter = describeError(err);
    }
    await conn.write("hello");
    return { reply, plainAfter, tls: conn.tls, ...(await drain(conn)) };
  },
  async "close-after-write"(port) {
    const conn = await connect({ port });
    const size = 2 << 20;
    void conn.write(new Uint8Array(size).map((_, i) => i % 251));
    await conn.close();
    return { closed: size };
  },
  async "starttls-idle"(port) {
    const plain = await connect({ port, idleTimeout: 400 });
    const conn = await startTls(plain, { handshakeTimeout: 5000 });
    return { tls: conn.tls, ...(await drain(conn)) };
  },
  async "starttls-pipelined"(port) {
    const plain = await connect({ port });
    // Not awaited: startTls() must let it go out before the ClientHello.
    void plain.write("UPGRADE\r\n");
    const conn = await startTls(plain, { handshakeTimeout: 5000 });
    await conn.write("hello");
    return { tls: conn.tls, ...(await drain(conn)) };
  },
  async "starttls-early-bytes"(port) {
    const plain = await connect({ port });
    await plain.write("STARTTLS\r\n");
    const reply = text(await plain.readUntil("\r\n"));
    await sleep(200); // the server's injected bytes arrive behind the reply
    try {
      await startTls(plain);
      return { reply, error: undefined };
    } catch (err) {
      return { reply, error: describeError(err) };
    }
  },
  async "starttls-read-pending"(port) {
    const plain = await connect({ port });
    const pending = plain.readUntil("\r\n");
    let error;
    try {
      await startTls(plain);
    } catch (err) {
      error = describeError(err);
    }
    await plain.write("PING\r\n");
    const reply = text(await pending);
    plain.reset();
    return { error, reply };
  },
  async "starttls-server-side"(port) {
    const plain = await connect({ port });
    try {
      await startTls(plain, { side: "server" } as never);
      return { error: undefined };
    } catch (err) {
      plain.reset();
      return { error: describeError(err) };
    }
  },
  /** examples/postgres/client.ts against a real PostgreSQL: SSLRequest, startTls, queries, Terminate. */
  async postgres(port) {
    const pg = await postgresSession(port);
    const numbers = await pg.query("SELECT n, md5(n::text) FROM generate_series(1, 1000) AS n");
    const big = await pg.query(
      "SELECT repeat('hangup', 700000) AS big, encode(sha256(convert_to(repeat('hangup', 700000), 'UTF8')), 'hex') AS hash",
    );
    const [value = "", hash] = big.rows[0] ?? [];
    let error: Record<string, unknown> | undefined;
    try {
      await pg.query("SELECT 1 / 0");
    } catch (err) {
      error = { ...describeError(err), sqlstate: (err as { code?: unknown }).code };
    }
    await pg.close();
    return {
      tls: pg.conn.tls,
      rows: numbers.rows.length,
      first: numbers.rows[0],
      last: numbers.rows.at(-1),
      bigLength: value?.length,
      bigHashMatches: hash === await sha256(new TextEncoder().encode(value ?? "")),
      error,
      ended: (await pg.conn.ended).reason,
    };
  },
  /** A login by SCRAM-SHA-256: Workers have no peer certificate to bind it to. */
  async "postgres-scram"(port) {
    const pg = await postgresSession(port, "s3cret");
    const { rows } = await pg.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    await pg.close();
    return { authentication: pg.authentication, rows };
  },
  /** A query whose backend the test kills (SIGKILL) while it sleeps. */
  async "postgres-killed"(port) {
    const pg = await postgresSession(port);
    try {
      await pg.query("SELECT pg_sleep(30) AS hangup_sleeps");
      return { error: undefined };
    } catch (err) {
      return { error: describeError(err), ended: (await pg.conn.ended).reason };
    } finally {
      pg.conn.reset();
    }
  },
  async preAborted(port) {
    try {
      await connect({ port, signal: AbortSignal.abort(new Error("pool closed")) });
      return { error: undefined };
    } catch (err) {
      return { error: describeError(err) };
    }
  },
  async refused(port) {
    try {
      await connect({ port, timeout: 5000 });
      return { error: undefined };
    } catch (err) {
      return { error: describeError(err) };
    }
  },
};

async function postgresSession(port: number, password?: string): Promise<PgClient> {
  const plain = await connect({ port, idleTimeout: 20_000 });
  await requestTls(plain);
  const conn = await startTls(plain, { handshakeTimeout: 5000 });
  return PgClient.login(conn, { user: "hangup", database: "postgres", ...(password === undefined ? {} : { password }) });
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const run = cases[url.searchParams.get("case") ?? ""];
    if (!run) return new Response("unknown case", { status: 404 });
    try {
      return Response.json(await run(Number(url.searchParams.get("port"))));
    } catch (err) {
      return Response.json({ crashed: describeError(err) }, { status: 500 });
    }
  },
};
