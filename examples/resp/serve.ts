/**
 * One RESP connection served with hangup: every command decoded with one `await`, every reply
 * written without waiting for it, and the writes awaited (backpressure) only once no more input
 * is buffered, so a pipelining client's burst of commands gets its burst of replies in as few
 * runtime writes as the core can merge.
 *
 * @example
 * ```ts
 * import { listen, serve } from "hangup";
 * import { RespStore } from "./decode.ts";
 * import { serveResp } from "./serve.ts";
 * const store = new RespStore();
 * await serve(await listen({ port: 6379, noDelay: true }), (conn) => serveResp(conn, store));
 * ```
 *
 * @module
 */
import type { Conn } from "hangup";
import { type DecodeResult, decodeCommand, type RespCommand, RespProtocolError, type RespStore } from "./decode.ts";

/** The framing members of `Conn` (SPEC "Framing"), optional while a build may lack them. */
interface Framing {
  decode?<T>(decoder: (bytes: Uint8Array) => DecodeResult<T>, options?: { maxBytes?: number }): AsyncIterable<T>;
  buffered?: number;
}

const ignore = (): void => {};

/**
 * Answers `conn`'s commands from `store` until the client closes. A client that breaks the
 * protocol is reset; a client that resets or quits mid-command ends the call with hangup's error,
 * and so does a command over `decode`'s default `maxBytes` (64 KiB: `LimitExceededError`).
 *
 * @example
 * ```ts
 * await serve(listener, (conn) => serveResp(conn, new RespStore()));
 * ```
 */
export async function serveResp(conn: Conn, store: RespStore): Promise<void> {
  try {
    const framed = conn as Conn & Framing;
    if (typeof framed.decode === "function") await serveDecoded(framed, store);
    else await serveByLines(conn, store);
  } catch (err) {
    if (!(err instanceof RespProtocolError)) throw err;
    conn.reset();
  }
}

async function serveDecoded(conn: Conn & Framing, store: RespStore): Promise<void> {
  let last: Promise<void> | undefined;
  for await (const command of conn.decode!(decodeCommand)) {
    const reply = store.execute(command);
    if (reply === null) continue;
    // A failed write fails every later one and the reads too: the awaited one reports it.
    last?.catch(ignore);
    last = conn.write(reply);
    // Nothing more buffered: the client waits for these replies, so let them go and take
    // backpressure before reading on. (`buffered` missing: await every write.)
    if (!((conn.buffered ?? 0) > 0)) {
      await last;
      last = undefined;
    }
  }
  await last;
}

/** Without `decode`: one awaited `readUntil` per line and one `readExactly` per argument. */
async function serveByLines(conn: Conn, store: RespStore): Promise<void> {
  let last: Promise<void> | undefined;
  let unawaited = 0;
  for (let command = await readCommandByLines(conn); command !== null; command = await readCommandByLines(conn)) {
    const reply = store.execute(command);
    if (reply === null) continue;
    last?.catch(ignore);
    last = conn.write(reply);
    // No `buffered` to say whether more commands wait: bound the writes left unawaited instead.
    if (++unawaited === 16) {
      unawaited = 0;
      await last;
      last = undefined;
    }
  }
  await last;
}

/**
 * The next command read with `readUntil("\r\n")` and `readExactly`, or null at EOF between
 * commands.
 *
 * @example
 * ```ts
 * for (let c = await readCommandByLines(conn); c !== null; c = await readCommandByLines(conn)) console.log(c.length);
 * ```
 */
export async function readCommandByLines(conn: Conn): Promise<RespCommand | null> {
  const line = await conn.readUntil("\r\n");
  if (line === null) return null;
  if (line[0] !== 42) return (decodeCommand(line) as { value: RespCommand }).value; // inline
  const count = lengthOf(line);
  const command: RespCommand = [];
  for (let k = 0; k < count; k++) {
    const header = await conn.readUntil("\r\n");
    if (header === null) throw new RespProtocolError("Connection ended inside a command");
    if (header[0] !== 36) throw new RespProtocolError(`Expected '$', got byte ${header[0]}`);
    const length = lengthOf(header);
    const bytes = await conn.readExactly(length + 2);
    if (bytes[length] !== 13 || bytes[length + 1] !== 10) throw new RespProtocolError("Bulk string not followed by \\r\\n");
    command.push(bytes.subarray(0, length));
  }
  return command;
}

/** The number in `*<n>\r\n` or `$<n>\r\n`. */
function lengthOf(line: Uint8Array): number {
  let n = 0;
  for (let i = 1; i < line.length - 2; i++) {
    const c = line[i]!;
    if (c < 48 || c > 57 || n > 1 << 29) throw new RespProtocolError("Malformed length line");
    n = n * 10 + (c - 48);
  }
  if (line.length < 4) throw new RespProtocolError("Malformed length line");
  return n;
}
