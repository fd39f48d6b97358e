import {
  AddressInUseError,
  BrokenPipeError,
  ConnectionAbortedError,
  ConnectionRefusedError,
  ConnectionResetError,
  IdleTimeoutError,
  SocketClosedError,
  SocketError,
  TimedOutError,
  TlsHandshakeError,
  TlsTruncatedError,
  WriteTimeoutError,
} from "./errors.ts";

/**
 * The operation that failed, used to start an error message ("Cannot read: ...").
 *
 * @example
 * ```ts
 * toSocketError(err, "write").message; // "Cannot write: broken pipe, the peer closed the connection"
 * ```
 */
export type SocketOperation = "read" | "write" | "connect" | "listen" | "accept" | "close";

/** Deno reports errors by class name and (mostly) without an OS code. */
const DENO_NAME_TO_CODE: Readonly<Record<string, string>> = {
  ConnectionReset: "ECONNRESET",
  ConnectionAborted: "ECONNABORTED",
  ConnectionRefused: "ECONNREFUSED",
  BrokenPipe: "EPIPE",
  TimedOut: "ETIMEDOUT",
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  PermissionDenied: "EACCES",
  NotConnected: "ENOTCONN",
  NotFound: "ENOENT",
  // Deno's own close while a read is pending, and any use after it.
  BadResource: "ERR_SOCKET_CLOSED",
  Interrupted: "ERR_SOCKET_CLOSED",
};

/** Runtime codes that all mean "this socket was already closed here". */
const LOCALLY_CLOSED_CODES = new Set([
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
  "EBADF",
  // Node 22+ cancels the writes still queued when a socket is destroyed.
  "ECANCELED",
]);

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ECONNRESET: "connection reset by peer",
  ECONNABORTED: "connection aborted by the local network stack",
  ECONNREFUSED: "connection refused",
  EPIPE: "broken pipe, the peer closed the connection",
  ETIMEDOUT: "connection timed out",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  EACCES: "permission denied",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "temporary failure in name resolution",
  ENOENT: "no such socket file",
  ENOTCONN: "socket is not connected",
  EMFILE: "too many open files in this process",
  ENFILE: "too many open files in the system",
  ERR_IDLE_TIMEOUT: "no byte received within the idle timeout",
  ERR_SOCKET_CLOSED: "the socket was closed here",
  ERR_WRITE_TIMEOUT: "the peer did not take the bytes in flight within the write timeout",
  ERR_TLS_TRUNCATED: "the TLS peer closed without close_notify",
  ERR_TLS_HANDSHAKE: "the TLS handshake failed",
};

const CLASSES: Readonly<Record<string, new (message?: string, options?: { cause?: unknown }) => SocketError>> = {
  ECONNRESET: ConnectionResetError,
  ECONNABORTED: ConnectionAbortedError,
  ECONNREFUSED: ConnectionRefusedError,
  EPIPE: BrokenPipeError,
  ETIMEDOUT: TimedOutError,
  EADDRINUSE: AddressInUseError,
  ERR_IDLE_TIMEOUT: IdleTimeoutError,
  ERR_SOCKET_CLOSED: SocketClosedError,
  ERR_WRITE_TIMEOUT: WriteTimeoutError,
  ERR_TLS_TRUNCATED: TlsTruncatedError,
  ERR_TLS_HANDSHAKE: TlsHandshakeError,
};

/**
 * Deno reports a failed name lookup as a plain `Error` with getaddrinfo's text
 * ("failed to lookup address information: Name or service not known"); Node and Bun say ENOTFOUND.
 */
const DENO_LOOKUP_FAILURE = /^failed to lookup address information/i;

function codeOf(err: unknown): string {
  if (typeof err !== "object" || err === null) return "ERR_SOCKET";
  const { code, name } = err as { code?: unknown; name?: unknown };
  if (typeof code === "string" && code !== "") {
    return LOCALLY_CLOSED_CODES.has(code) || code === "EINTR" && name === "Interrupted" ? "ERR_SOCKET_CLOSED" : code;
  }
  if (typeof name === "string" && name in DENO_NAME_TO_CODE) return DENO_NAME_TO_CODE[name]!;
  const { message } = err as { message?: unknown };
  if (typeof message === "string" && DENO_LOOKUP_FAILURE.test(message)) {
    return /temporary failure/i.test(message) ? "EAI_AGAIN" : "ENOTFOUND";
  }
  // Deno refuses a name that is no host name at all ("invalid char found in FQDN") with a URIError;
  // Node and Bun look it up, and find nothing.
  if (name === "URIError") return "ENOTFOUND";
  return "ERR_SOCKET";
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Maps any runtime's socket error to hangup's classes: Node and Bun errors by
 * `code`, Deno errors by `name` (`ConnectionReset`, `BrokenPipe`, `TimedOut`, ...).
 * A `SocketError` is returned as it is; anything else becomes the matching
 * subclass with the original as `cause`.
 *
 * @param err the error a runtime reported
 * @param operation what was being done, to start the message ("Cannot read: ...")
 * @example
 * ```ts
 * import { toSocketError } from "hangup/core";
 * const err = toSocketError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), "read");
 * err.name;    // "ConnectionResetError"
 * err.message; // "Cannot read: connection reset by peer"
 * ```
 */
export function toSocketError(err: unknown, operation?: SocketOperation): SocketError {
  if (err instanceof SocketError) return err;
  const code = codeOf(err);
  const fallback = err instanceof Error && err.message ? err.message : String(err);
  // A listener's ENOENT is its socket's directory: the socket file is what it would create.
  const description = code === "ENOENT" && operation === "listen" ? "no such directory for the socket" : DESCRIPTIONS[code] ?? fallback;
  const message = operation ? `Cannot ${operation}: ${description}` : capitalize(description);
  const ErrorClass = CLASSES[code];
  return ErrorClass ? new ErrorClass(message, { cause: err }) : new SocketError(message, code, { cause: err });
}
