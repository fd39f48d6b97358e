import { checkDuration, checkInteger, checkOptionsObject, CONN_OPTION_KEYS, describe } from "./options.ts";

/** Default of `handshakeTimeout`: a peer that connects and sends nothing is dropped after it. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Default of `maxHandshakes`: handshakes a TLS listener runs at once (see `TlsOptions.maxHandshakes`). */
export const DEFAULT_MAX_HANDSHAKES = 128;

/**
 * TlsOptions after checking, with defaults filled in.
 *
 * @example
 * ```ts
 * const { handshakeTimeout, maxHandshakes } = checkTlsOptions(true, "tls", "client"); // 10000, 128
 * ```
 */
export interface ResolvedTlsOptions {
  serverName: string | undefined;
  ca: string[] | undefined;
  cert: string | undefined;
  key: string | undefined;
  alpnProtocols: string[] | undefined;
  rejectUnauthorized: boolean;
  allowTruncation: boolean;
  /** ms; 0 waits forever. */
  handshakeTimeout: number;
  /** Listeners only: handshakes in flight at once. */
  maxHandshakes: number;
}

function checkString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new TypeError(`${name} must be a non-empty string, got ${describe(value)}`);
  return value;
}

/** PEM text: some runtimes parse it only at the first handshake, so its shape is checked here. */
function checkPem(value: unknown, name: string): string | undefined {
  const text = checkString(value, name);
  if (text !== undefined && !text.includes("-----BEGIN ")) {
    throw new TypeError(`${name} must be PEM text ("-----BEGIN ..."), got ${describe(value)}`);
  }
  return text;
}

function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function checkStrings(value: unknown, name: string, orString = false): string[] {
  if (!Array.isArray(value)) {
    throw new TypeError(`${name} must be ${orString ? "a string or " : ""}an array of strings, got ${describe(value)}`);
  }
  return value.map((item, i) => checkString(item, `${name}[${i}]`)!);
}

/**
 * Checks the `tls` option of `connect` (`true` or TlsOptions), `listen` or `startTls`,
 * throwing a TypeError or RangeError that names the bad option. A server (`side`
 * "server") needs `cert` and `key`.
 *
 * @param value what the user passed
 * @param name the option's name in messages, e.g. "tls"
 * @param side which end of the handshake hangup plays
 * @param withConnOptions `value` also holds ConnOptions and `side` (startTls's options)
 * @example
 * ```ts
 * checkTlsOptions({ handshakeTimeout: -1 }, "tls", "client"); // RangeError: tls.handshakeTimeout must be ...
 * checkTlsOptions({}, "tls", "server"); // TypeError: tls.cert and tls.key are required to accept TLS connections
 * ```
 */
export function checkTlsOptions(
  value: unknown,
  name: string,
  side: "client" | "server",
  withConnOptions = false,
): ResolvedTlsOptions {
  if (value !== true && (typeof value !== "object" || value === null)) {
    throw new TypeError(`${name} must be true or an object of TLS options, got ${describe(value)}`);
  }
  const o = value === true ? {} : checkOptionsObject(value, name);
  refuseUnknownKeys(o, name, withConnOptions ? START_TLS_KEYS : []);
  const ca = o.ca === undefined
    ? undefined
    : typeof o.ca === "string"
    ? [checkString(o.ca, `${name}.ca`)!]
    : checkStrings(o.ca, `${name}.ca`, true);
  // An empty list would trust no server at all: every handshake would fail, far from the cause.
  if (ca?.length === 0) throw new RangeError(`${name}.ca must hold at least one PEM certificate, got an empty array`);
  const alpnProtocols = o.alpnProtocols === undefined ? undefined : checkStrings(o.alpnProtocols, `${name}.alpnProtocols`);
  for (const [i, protocol] of (alpnProtocols ?? []).entries()) {
    if (new TextEncoder().encode(protocol).length > 255) throw new RangeError(`${name}.alpnProtocols[${i}] must be at most 255 bytes`);
  }
  const cert = checkPem(o.cert, `${name}.cert`);
  const key = checkPem(o.key, `${name}.key`);
  for (const [i, root] of (ca ?? []).entries()) checkPem(root, o.ca === ca?.[0] ? `${name}.ca` : `${name}.ca[${i}]`);
  if ((cert === undefined) !== (key === undefined)) throw new TypeError(`${name}.cert and ${name}.key go together: give both or neither`);
  if (side === "server" && cert === undefined) throw new TypeError(`${name}.cert and ${name}.key are required to accept TLS connections`);
  return {
    serverName: checkString(o.serverName, `${name}.serverName`),
    ca,
    cert,
    key,
    alpnProtocols,
    rejectUnauthorized: checkBoolean(o.rejectUnauthorized, `${name}.rejectUnauthorized`, true),
    allowTruncation: checkBoolean(o.allowTruncation, `${name}.allowTruncation`, false),
    handshakeTimeout: checkDuration(o.handshakeTimeout, `${name}.handshakeTimeout`, DEFAULT_HANDSHAKE_TIMEOUT),
    maxHandshakes: checkInteger(o.maxHandshakes, `${name}.maxHandshakes`, DEFAULT_MAX_HANDSHAKES, 1),
  };
}

const TLS_KEYS = [
  "serverName",
  "ca",
  "cert",
  "key",
  "alpnProtocols",
  "rejectUnauthorized",
  "allowTruncation",
  "handshakeTimeout",
  "maxHandshakes",
];

/** What startTls's options hold besides TLS options: the new connection's ConnOptions, and `side`. */
const START_TLS_KEYS: readonly string[] = ["side", ...CONN_OPTION_KEYS];

/** Node's `tls.connect` spellings a user brings along, and what hangup calls them. */
const NODE_TLS_SPELLINGS: Readonly<Record<string, string>> = { servername: "serverName", ALPNProtocols: "alpnProtocols" };

/**
 * An option hangup does not know is refused, not ignored: a `checkServerIdentity` or a
 * `minVersion` that silently does nothing would weaken a connection its author thinks is pinned.
 */
function refuseUnknownKeys(o: Record<string, unknown>, name: string, alsoKnown: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (TLS_KEYS.includes(key) || alsoKnown.includes(key) || o[key] === undefined) continue;
    const instead = NODE_TLS_SPELLINGS[key];
    throw new TypeError(
      instead
        ? `${name}.${key} is Node's tls.connect spelling: hangup's is ${name}.${instead}`
        : alsoKnown.length === 0
        ? `${name}.${key} is not a TLS option hangup has (it has ${TLS_KEYS.join(", ")})`
        : `${name}.${key} is not an option of startTls (it has ${[...alsoKnown, ...TLS_KEYS].join(", ")})`,
    );
  }
}
