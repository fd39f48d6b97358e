/**
 * What the Node, Deno and Bun adapters' `wrap()` says when it is handed a TLS socket.
 *
 * @module
 */

/**
 * Why `wrap()` refuses a TLS socket: hangup runs TLS over a TCP socket it owns, which is how it
 * tells a close_notify from a truncation; over the runtime's own TLS socket it could not.
 *
 * @example
 * ```ts
 * if (Object.prototype.toString.call(socket) === "[object TLSSocket]") throw new TypeError(WRAP_REFUSES_TLS);
 * ```
 */
export const WRAP_REFUSES_TLS =
  "native is a TLS socket: wrap() takes a plaintext one, since over the runtime's TLS socket hangup cannot see the peer's close_notify and would report a truncated stream as a clean end; wrap the plaintext socket and startTls() it, or connect({ tls })";

/**
 * Throws `TypeError(WRAP_REFUSES_TLS)` for a `node:tls` socket (`encrypted`), the native a TLS
 * `Conn`'s `unwrap()` hands out on every runtime hangup runs TLS on.
 *
 * @example
 * ```ts
 * refuseNodeTlsSocket(native); // before wrapping it
 * ```
 */
export function refuseNodeTlsSocket(native: unknown): void {
  if ((native as { encrypted?: unknown } | null)?.encrypted === true) throw new TypeError(WRAP_REFUSES_TLS);
}
