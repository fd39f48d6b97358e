import type { ConnOptions } from "./types.ts";

/** Default of `highWaterMark`, and of `maxBytes` for `readUntil` / `lines`. */
export const DEFAULT_LIMIT = 65536;

/**
 * Every ConnOptions key: what `connOptionsOf` keeps, and what `startTls` takes besides TLS options.
 *
 * @example
 * ```ts
 * for (const key of CONN_OPTION_KEYS) if (key in options) console.log(key);
 * ```
 */
export const CONN_OPTION_KEYS = ["idleTimeout", "keepAlive", "noDelay", "highWaterMark", "heartbeat", "signal", "writeTimeout"] as const;

// A ConnOptions key missing above fails to compile here.
const everyConnOption: Exclude<keyof ConnOptions, (typeof CONN_OPTION_KEYS)[number]> extends never ? true : never = true;
void everyConnOption;

/**
 * The options of each kind of operation (`read`, `write`, `accept`...; `readUntil`, `lines`,
 * `decode`; `peek`): any other is refused by name, since a misspelt `maxBytes` would lift a bound.
 *
 * @example
 * ```ts
 * refuseUnknownOptions({ maxbytes: 4 }, "lines", SCAN_OPTION_KEYS); // TypeError: ... did you mean maxBytes?
 * ```
 */
export const OPERATION_OPTION_KEYS: readonly string[] = ["signal"];
export const SCAN_OPTION_KEYS: readonly string[] = ["signal", "maxBytes"];
export const PEEK_OPTION_KEYS: readonly string[] = ["signal", "bytes"];

/**
 * ConnOptions after checking, with defaults filled in.
 *
 * @example
 * ```ts
 * const { highWaterMark, idleTimeout } = resolveConnOptions({ idleTimeout: 5000 }); // 65536, 5000
 * ```
 */
export interface ResolvedConnOptions {
  idleTimeout: number;
  /** Absent: the runtime's default is left alone. */
  keepAlive: number | false | undefined;
  noDelay: boolean | undefined;
  highWaterMark: number;
  heartbeat: { interval: number; message: Uint8Array } | undefined;
  signal: AbortSignal | undefined;
  /** Absent: off, unless `serve()` gives the connection its default. */
  writeTimeout: number | undefined;
}

const encoder = new TextEncoder();

/** Throws unless `value` is an object or absent. */
export function checkOptionsObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`${what} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Refuses an option `o` has that is not in `known`, naming it (and the known one it misspells):
 * a misspelt `idletimeout` silently ignored would leave a connection without the timeout its
 * author set. An option given as `undefined` is an option left out.
 *
 * @example
 * ```ts
 * refuseUnknownOptions({ idletimeout: 5000 }, "connect", ["idleTimeout"]); // TypeError: options.idletimeout is not an option of connect: did you mean idleTimeout?
 * ```
 */
export function refuseUnknownOptions(o: Record<string, unknown>, what: string, known: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key) || o[key] === undefined) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    throw new TypeError(
      `options.${key} is not an option of ${what}${near ? `: did you mean ${near}?` : ` (it has ${known.join(", ")})`}`,
    );
  }
}

/** A short, safe description of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === "string") return `the string "${value.length > 40 ? value.slice(0, 40) + "…" : value}"`;
  if (value === null) return "null";
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return `${typeof value} ${String(value)}`;
  return typeof value;
}

/** A finite number ≥ `min` in ms, or the default when absent. */
export function checkDuration(value: unknown, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new TypeError(`${name} must be a number of milliseconds, got ${describe(value)}`);
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`${name} must be a finite number of milliseconds ≥ ${min}, got ${value}`);
  }
  return value;
}

/** A safe integer ≥ `min`, or the default when absent. */
export function checkInteger(value: unknown, name: string, fallback: number, min = 0, max: number = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** An AbortSignal, or absent. */
export function checkSignal(value: unknown, name = "signal"): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError(`${name} must be an AbortSignal, got ${describe(value)}`);
  return value;
}

/** Bytes from a `Uint8Array` or a string (UTF-8). */
export function toBytes(value: unknown, name: string): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  throw new TypeError(`${name} must be a Uint8Array or a string, got ${describe(value)}`);
}

/**
 * Checks ConnOptions, throwing a TypeError or RangeError that names the bad option.
 *
 * @example
 * ```ts
 * resolveConnOptions({ idleTimeout: -1 }); // RangeError: idleTimeout must be a finite number of milliseconds ≥ 0, got -1
 * ```
 */
export function resolveConnOptions(options: unknown): ResolvedConnOptions {
  const o = checkOptionsObject(options, "options");
  const keepAlive = o.keepAlive === undefined ? undefined : o.keepAlive === false ? false : checkDuration(o.keepAlive, "keepAlive", 0);
  if (o.noDelay !== undefined && typeof o.noDelay !== "boolean") {
    throw new TypeError(`noDelay must be a boolean, got ${describe(o.noDelay)}`);
  }
  let heartbeat: ResolvedConnOptions["heartbeat"];
  if (o.heartbeat !== undefined) {
    const h = checkOptionsObject(o.heartbeat, "heartbeat");
    const interval = checkDuration(h.interval, "heartbeat.interval", Number.NaN, 1);
    if (Number.isNaN(interval)) throw new TypeError("heartbeat.interval must be a number of milliseconds, got undefined");
    const message = toBytes(h.message, "heartbeat.message");
    if (message.length === 0) throw new RangeError("heartbeat.message must not be empty");
    heartbeat = { interval, message };
  }
  return {
    idleTimeout: checkDuration(o.idleTimeout, "idleTimeout", 0),
    keepAlive,
    noDelay: o.noDelay as boolean | undefined,
    highWaterMark: checkInteger(o.highWaterMark, "highWaterMark", DEFAULT_LIMIT, 1),
    heartbeat,
    signal: checkSignal(o.signal),
    writeTimeout: o.writeTimeout === undefined ? undefined : checkDuration(o.writeTimeout, "writeTimeout", 0),
  };
}
