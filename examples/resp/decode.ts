/**
 * A RESP2 (Redis protocol) command decoder and a tiny in-memory command set (PING, SET, GET),
 * shared by `examples/resp-server.ts` and the RESP benchmark. No imports: the decoder is a plain
 * synchronous function of the bytes buffered so far, in the shape `conn.decode(decoder)` takes,
 * and a hand-written server can call it on its own buffer just as well.
 *
 * @example
 * ```ts
 * import { decodeCommand, RespStore } from "./resp/decode.ts";
 * const store = new RespStore();
 * for await (const command of conn.decode(decodeCommand)) {
 *   const reply = store.execute(command);
 *   if (reply) void conn.write(reply);
 * }
 * ```
 *
 * @module
 */

/**
 * What a decoder returns: a message and the bytes it used, how many bytes (in all) it needs
 * before it can say more, or `undefined` for "call again when any more bytes arrive".
 *
 * @example
 * ```ts
 * const result: DecodeResult<Uint8Array[]> = decodeCommand(new TextEncoder().encode("PING\r\n"));
 * ```
 */
export type DecodeResult<T> = { value: T; used: number } | { need: number } | undefined;

/**
 * One command: its arguments, as views into the bytes given to the decoder. Copy what you keep
 * if that memory is reused (hangup never reuses it; a hand-written server's read buffer may).
 *
 * @example
 * ```ts
 * const command: RespCommand = [new TextEncoder().encode("PING")];
 * ```
 */
export type RespCommand = Uint8Array[];

/**
 * The peer broke the protocol (a bad length, a missing "\r\n", a line too long): close the
 * connection, there is no way to find the next command.
 *
 * @example
 * ```ts
 * try { decodeCommand(bytes); } catch (err) { if (err instanceof RespProtocolError) conn.reset(); }
 * ```
 */
export class RespProtocolError extends Error {
  override readonly name = "RespProtocolError";
}

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
/** Redis's own limits: 1 M arguments, 512 MiB per argument, 64 KiB per inline command. */
const MAX_ARGS = 1 << 20;
const MAX_BULK = 512 << 20;
const MAX_INLINE = 65536;

/** Where the last `lineInt` stopped: past its "\r\n" (a module variable, so no tuple per call). */
let lineEnd = 0;

/** The decimal number at `at` up to "\r\n", or -1 when its line is not all here yet. */
function lineInt(bytes: Uint8Array, at: number, max: number): number {
  let n = 0;
  let i = at;
  for (; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === CR) break;
    if (c < 48 || c > 57) throw new RespProtocolError(`Expected a length, got byte ${c}`);
    n = n * 10 + (c - 48);
    if (n > max) throw new RespProtocolError(`Length over the ${max} limit`);
  }
  if (i + 1 >= bytes.length) {
    if (i - at > 11) throw new RespProtocolError("Length line too long");
    return -1;
  }
  if (i === at || bytes[i + 1] !== LF) throw new RespProtocolError("Malformed length line");
  lineEnd = i + 2;
  return n;
}

/**
 * Decodes the first command in `bytes`: an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`)
 * or an inline command (`PING\r\n`). Throws `RespProtocolError` on bytes that are not RESP.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("*1\r\n$4\r\nPING\r\n");
 * decodeCommand(bytes); // { value: [Uint8Array "PING"], used: 14 }
 * ```
 */
export function decodeCommand(bytes: Uint8Array): DecodeResult<RespCommand> {
  if (bytes.length === 0) return undefined;
  if (bytes[0] !== STAR) return decodeInline(bytes);
  const count = lineInt(bytes, 1, MAX_ARGS);
  if (count < 0) return undefined;
  let at = lineEnd;
  const args: Uint8Array[] = new Array(count);
  for (let k = 0; k < count; k++) {
    if (at >= bytes.length) return undefined;
    if (bytes[at] !== DOLLAR) throw new RespProtocolError(`Expected '$', got byte ${bytes[at]}`);
    const length = lineInt(bytes, at + 1, MAX_BULK);
    if (length < 0) return undefined;
    const end = lineEnd + length;
    // The rest of this argument is a known size: no need to look again before it is all here.
    if (end + 2 > bytes.length) return { need: end + 2 };
    if (bytes[end] !== CR || bytes[end + 1] !== LF) throw new RespProtocolError("Bulk string not followed by \\r\\n");
    args[k] = bytes.subarray(lineEnd, end);
    at = end + 2;
  }
  return { value: args, used: at };
}

/** `PING\r\n`, `GET key\n`: arguments split on spaces. */
function decodeInline(bytes: Uint8Array): DecodeResult<RespCommand> {
  const lf = bytes.indexOf(LF);
  if (lf < 0) {
    if (bytes.length > MAX_INLINE) throw new RespProtocolError("Inline command too long");
    return undefined;
  }
  const end = lf > 0 && bytes[lf - 1] === CR ? lf - 1 : lf;
  const args: Uint8Array[] = [];
  for (let i = 0; i < end;) {
    while (i < end && bytes[i] === 32) i++;
    const start = i;
    while (i < end && bytes[i] !== 32) i++;
    if (i > start) args.push(bytes.subarray(start, i));
  }
  return { value: args, used: lf + 1 };
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const PONG = ascii("+PONG\r\n");
const OK = ascii("+OK\r\n");
const NULL_BULK = ascii("$-1\r\n");
const latin1 = new TextDecoder("latin1");

/** Whether `arg` is `name` (given in lower case), ignoring ASCII case. */
function is(arg: Uint8Array, name: string): boolean {
  if (arg.length !== name.length) return false;
  for (let i = 0; i < arg.length; i++) if ((arg[i]! | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

/** The bytes as a string, one character per byte (so every key maps to its own string). */
function keyOf(arg: Uint8Array): string {
  if (arg.length > 32) return latin1.decode(arg);
  let key = "";
  for (let i = 0; i < arg.length; i++) key += String.fromCharCode(arg[i]!);
  return key;
}

/** `$<length>\r\n<bytes>\r\n` */
function bulk(value: Uint8Array): Uint8Array {
  const header = `$${value.length}\r\n`;
  const out = new Uint8Array(header.length + value.length + 2);
  for (let i = 0; i < header.length; i++) out[i] = header.charCodeAt(i);
  out.set(value, header.length);
  out[out.length - 2] = CR;
  out[out.length - 1] = LF;
  return out;
}

/**
 * A key-value map answering PING, SET key value, GET key (and CONFIG GET, with nothing, for the
 * clients that ask); every other command gets an error reply.
 *
 * @example
 * ```ts
 * const store = new RespStore();
 * const enc = (s: string) => new TextEncoder().encode(s);
 * store.execute([enc("SET"), enc("k"), enc("v")]); // "+OK\r\n"
 * store.execute([enc("GET"), enc("k")]);           // "$1\r\nv\r\n"
 * ```
 */
export class RespStore {
  readonly #values = new Map<string, Uint8Array>();

  /** The reply to `command`, or `null` for an empty command (which gets none). */
  execute(command: RespCommand): Uint8Array | null {
    const name = command[0];
    if (name === undefined) return null;
    if (command.length === 3 && is(name, "set")) {
      // A copy: the argument may be a view into a buffer its server reuses.
      this.#values.set(keyOf(command[1]!), command[2]!.slice());
      return OK;
    }
    if (command.length === 2 && is(name, "get")) {
      const value = this.#values.get(keyOf(command[1]!));
      return value === undefined ? NULL_BULK : bulk(value);
    }
    if (is(name, "ping")) {
      if (command.length === 1) return PONG;
      if (command.length === 2) return bulk(command[1]!);
    }
    // CONFIG GET <name>: the name with an empty value (redis-benchmark asks for two at its start).
    if (command.length === 3 && is(name, "config") && is(command[1]!, "get")) {
      const parts = [ascii("*2\r\n"), bulk(command[2]!), ascii("$0\r\n\r\n")];
      return concatBytes(parts, parts[0]!.length + parts[1]!.length + parts[2]!.length);
    }
    return ascii(`-ERR unknown command or wrong number of arguments for '${keyOf(name).slice(0, 64)}'\r\n`);
  }
}

/**
 * All of `parts` in one buffer (`length` is their total): one write for a batch of replies.
 *
 * @example
 * ```ts
 * const parts = [store.execute(a)!, store.execute(b)!];
 * socket.write(concatBytes(parts, parts[0]!.length + parts[1]!.length));
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
