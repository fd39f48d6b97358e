/**
 * A small PostgreSQL client for any runtime hangup runs on: `requestTls` asks for TLS on a
 * plaintext connection (`SSLRequest`), the caller upgrades it with `startTls`, and `PgClient`
 * logs in and speaks the simple query protocol, its messages cut out of the stream by
 * `conn.decode`. Only types come from hangup, so it runs unchanged on Node, Deno, Bun and Workers.
 *
 * @example
 * ```ts
 * import { connect, startTls } from "hangup";
 * import { PgClient, requestTls } from "./client.ts";
 * const plain = await connect({ hostname: "db.internal", port: 5432, idleTimeout: 30_000 });
 * await requestTls(plain);
 * const pg = await PgClient.login(await startTls(plain, { serverName: "db.internal" }), { user: "app", database: "app" });
 * console.log((await pg.query("SELECT now()")).rows);
 * await pg.close();
 * ```
 *
 * @module
 */
import type { Conn, DecodeResult } from "hangup";
import { Scram } from "./scram.ts";

/** An `ErrorResponse` from the server: `code` is its SQLSTATE (`22012` division by zero). */
export class PgError extends Error {
  override name = "PgError";
  constructor(readonly severity: string, readonly code: string, message: string) {
    super(message);
  }
}

/** What a query returned: the column names, the rows as text (null for NULL), the command tag. */
export interface PgResult {
  columns: string[];
  rows: (string | null)[][];
  command: string;
}

/** Who logs in, to which database. */
export interface PgLogin {
  user: string;
  database: string;
  /** For SCRAM-SHA-256 (bound to the TLS connection where the server offers it) or `password` authentication; MD5 is not in this example. */
  password?: string;
}

/** One backend message: its type letter and body. */
interface PgMessage {
  type: string;
  body: Uint8Array;
}

const SSL_REQUEST_CODE = 80877103;
const PROTOCOL_3_0 = 196608;
/** The largest message this client takes (a DataRow of big values): a hostile server cannot make it buffer more. */
const MAX_MESSAGE = 64 << 20;
const utf8 = new TextEncoder();
const text = new TextDecoder();

/**
 * A frontend message: its type letter (none for the startup ones), then the length-prefixed body
 * of `parts`: a number is an Int32, a string a NUL-terminated string, bytes go as they are.
 */
function message(type: string | undefined, ...parts: (string | number | Uint8Array)[]): Uint8Array {
  const bodies = parts.map((part) => typeof part === "number" ? int32(part) : typeof part === "string" ? utf8.encode(`${part}\0`) : part);
  const length = 4 + bodies.reduce((sum, body) => sum + body.length, 0);
  const out = new Uint8Array((type ? 1 : 0) + length);
  let at = 0;
  if (type) out[at++] = type.charCodeAt(0);
  out.set(int32(length), at);
  at += 4;
  for (const body of bodies) {
    out.set(body, at);
    at += body.length;
  }
  return out;
}

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

/** Backend messages: a type byte, a 4-byte length that counts itself, the body. */
function decodeMessage(bytes: Uint8Array): DecodeResult<PgMessage> {
  if (bytes.length < 5) return { need: 5 };
  const length = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getInt32(0);
  if (length < 4) throw new PgError("FATAL", "08P01", `bad message length ${length}`);
  if (bytes.length < 1 + length) return { need: 1 + length };
  return { value: { type: String.fromCharCode(bytes[0]!), body: bytes.subarray(5, 1 + length) }, used: 1 + length };
}

/** The NUL-terminated strings of a body, from `at`. */
function cStrings(body: Uint8Array, at = 0): string[] {
  const strings: string[] = [];
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at);
    if (end < 0) throw malformed("a string without its NUL");
    strings.push(text.decode(body.subarray(at, end)));
    at = end + 1;
  }
  return strings;
}

/** A message that breaks the protocol: the connection cannot be trusted further. */
function malformed(what: string): PgError {
  return new PgError("FATAL", "08P01", `malformed message from the server: ${what}`);
}

function errorFrom(body: Uint8Array): PgError {
  const fields = new Map(cStrings(body).map((field) => [field[0], field.slice(1)]));
  // V is the severity never translated (PostgreSQL 9.6 and later), S the localized one.
  return new PgError(fields.get("V") ?? fields.get("S") ?? "ERROR", fields.get("C") ?? "XX000", fields.get("M") ?? "unknown error");
}

/**
 * Asks the server for TLS on a new plaintext connection (`SSLRequest`): resolves once it agreed,
 * and the caller upgrades `plain` with `startTls`. Rejects if the server refused (`plain` is
 * still open: close it), or if bytes already came after its "S": those were never encrypted, and
 * libpq refuses them too (CVE-2021-23222). Bytes that come later are safe: `startTls` hands
 * them to the TLS layer as ciphertext, where they fail the handshake.
 *
 * @example
 * ```ts
 * const plain = await connect({ hostname: "db.internal", port: 5432 });
 * await requestTls(plain);
 * const pg = await PgClient.login(await startTls(plain, { serverName: "db.internal", ca }), { user: "app", database: "app" });
 * ```
 */
export async function requestTls(plain: Conn): Promise<void> {
  await plain.write(message(undefined, SSL_REQUEST_CODE));
  const answer = String.fromCharCode((await plain.readExactly(1))[0]!);
  if (answer !== "S") throw new PgError("FATAL", "08P01", `the server refused TLS (it answered ${JSON.stringify(answer)} to SSLRequest)`);
  if (plain.buffered > 0) throw new PgError("FATAL", "08P01", "the server sent unencrypted data after agreeing to TLS");
}

/**
 * One session over a TLS connection: `PgClient.login` logs in, `query` runs SQL, `close` ends
 * the session. One query at a time.
 *
 * @example
 * ```ts
 * const pg = await PgClient.login(conn, { user: "app", database: "app" });
 * console.log((await pg.query("SELECT 1 AS one")).rows); // [["1"]]
 * await pg.close();
 * ```
 */
export class PgClient {
  /** The server's ParameterStatus values (server_version, client_encoding, ...). */
  readonly parameters: Map<string, string> = new Map();
  /** The backend serving this session (what `pg_terminate_backend` takes). */
  backendPid: number = 0;
  /** How the server authenticated this session: `trust`, `password`, `SCRAM-SHA-256` or `SCRAM-SHA-256-PLUS`. */
  authentication: string = "trust";
  readonly #messages: AsyncIterator<PgMessage>;

  private constructor(readonly conn: Conn) {
    this.#messages = conn.decode(decodeMessage, { maxBytes: MAX_MESSAGE });
  }

  /** Logs in over `conn` (upgraded by `startTls` after `requestTls`). Resets `conn` if it fails. */
  static async login(conn: Conn, login: PgLogin): Promise<PgClient> {
    const client = new PgClient(conn);
    try {
      await conn.write(message(undefined, PROTOCOL_3_0, "user", login.user, "database", login.database, "client_encoding", "UTF8", ""));
      await client.#startup(login.password);
      return client;
    } catch (err) {
      conn.reset();
      throw err;
    }
  }

  async #next(): Promise<PgMessage> {
    const { done, value } = await this.#messages.next();
    if (done) throw new PgError("FATAL", "08006", "the server closed the connection");
    return value;
  }

  /** Authentication, then the parameters, until ReadyForQuery. */
  async #startup(password: string | undefined): Promise<void> {
    let scram: Scram | undefined;
    for (;;) {
      const { type, body } = await this.#next();
      if (type === "E") throw errorFrom(body);
      if (type === "Z") return;
      if (type === "S") {
        const [name = "", value = ""] = cStrings(body);
        this.parameters.set(name, value);
      } else if (type === "K") {
        this.backendPid = new DataView(body.buffer, body.byteOffset, 8).getInt32(0);
      } else if (type === "R") {
        scram = await this.#authenticate(body, password, scram);
      }
    }
  }

  /** One Authentication message: answers it, and returns the SCRAM exchange under way. */
  async #authenticate(body: Uint8Array, password: string | undefined, scram: Scram | undefined): Promise<Scram | undefined> {
    const method = new DataView(body.buffer, body.byteOffset, 4).getInt32(0);
    const data = text.decode(body.subarray(4));
    if (method === 0) { // AuthenticationOk
      // A SCRAM exchange counts only once the server proved it knows the password too: an "OK"
      // before that is a server (or a man in the middle) skipping its half.
      if (scram && !scram.verified) throw new PgError("FATAL", "28000", "the server ended SCRAM without proving it knows the password");
      return scram;
    }
    if (password === undefined) throw new PgError("FATAL", "28000", `the server asks for a password (authentication method ${method})`);
    if (method === 3) { // cleartext: only inside TLS
      if (!this.conn.tls) throw new PgError("FATAL", "28000", "the server asks for the password in clear over an unencrypted connection");
      this.authentication = "password";
      await this.conn.write(message("p", password));
      return undefined;
    }
    if (method === 10) { // SASL: the mechanisms offered
      const started = await Scram.start(cStrings(body, 4), this.conn.tls?.peerCertificate ?? null, password);
      this.authentication = started.mechanism;
      const first = utf8.encode(started.clientFirst);
      await this.conn.write(message("p", started.mechanism, first.length, first));
      return started;
    }
    if (method === 11 && scram) { // SASLContinue: the server's first message
      await this.conn.write(message("p", utf8.encode(await scram.clientFinal(data))));
      return scram;
    }
    if (method === 12 && scram) { // SASLFinal: the server's signature
      await scram.verify(data);
      return scram;
    }
    throw new PgError("FATAL", "28000", `authentication method ${method} is not in this example (SCRAM-SHA-256, password or trust)`);
  }

  /** Runs `sql` (one statement) with the simple query protocol. Rejects with `PgError` for an error the server reports. */
  async query(sql: string): Promise<PgResult> {
    await this.conn.write(message("Q", sql));
    const result: PgResult = { columns: [], rows: [], command: "" };
    let error: PgError | undefined;
    for (;;) {
      const { type, body } = await this.#next();
      const view = new DataView(body.buffer, body.byteOffset, body.length);
      if (type === "T") {
        result.columns = columnNames(body, view.getInt16(0));
      } else if (type === "D") {
        const row: (string | null)[] = [];
        for (let column = 0, at = 2; column < view.getInt16(0); column++) {
          const length = view.getInt32(at);
          at += 4;
          if (at + Math.max(length, 0) > body.length) throw malformed("a DataRow value past its end");
          row.push(length < 0 ? null : text.decode(body.subarray(at, at + length)));
          if (length > 0) at += length;
        }
        result.rows.push(row);
      } else if (type === "C") {
        result.command = cStrings(body)[0] ?? "";
      } else if (type === "E") {
        error = errorFrom(body);
        // A FATAL error ends the session: the server closes, no ReadyForQuery follows.
        if (error.severity === "FATAL" || error.severity === "PANIC") throw error;
      } else if (type === "Z") {
        if (error) throw error;
        return result;
      }
    }
  }

  /**
   * Ends the session (`Terminate`) and waits for the server to close: its close_notify ends the
   * stream (`conn.ended` says `eof`); a FIN without it throws `TlsTruncatedError`.
   */
  async close(): Promise<void> {
    try {
      await this.conn.write(message("X"));
      while (!(await this.#messages.next()).done);
    } finally {
      await this.conn.close();
    }
  }
}

/** The names in a RowDescription: each a NUL-terminated string followed by 18 bytes of type data. */
function columnNames(body: Uint8Array, count: number): string[] {
  const names: string[] = [];
  for (let column = 0, at = 2; column < count; column++) {
    const end = body.indexOf(0, at);
    if (end < 0) throw malformed("a RowDescription name without its NUL");
    names.push(text.decode(body.subarray(at, end)));
    at = end + 1 + 18;
  }
  return names;
}
