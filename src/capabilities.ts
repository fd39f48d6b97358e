/**
 * What an adapter's runtime can do, as data: each adapter exports one frozen
 * `capabilities` object, the test suite skips by name what a runtime cannot do,
 * and the README's runtime table is checked against the same objects.
 *
 * @example
 * ```ts
 * import { capabilities, connect } from "hangup";
 * const conn = await connect({ port: 7000 });
 * // Where reset() cannot send an RST, tell the peer in-band instead.
 * if (!capabilities.reset) await conn.write("ABORT\n");
 * conn.reset();
 * ```
 *
 * @module
 */

/**
 * One runtime's abilities, as its adapter uses them. Every field is a measured
 * fact of the runtime (and of the adapter), not a promise hangup makes elsewhere.
 *
 * @example
 * ```ts
 * import type { Capabilities } from "hangup/core";
 * const describe = (c: Capabilities): string => (c.reset ? "reset() sends RST" : "reset() closes with FIN");
 * ```
 */
export interface Capabilities {
  /** `reset()` sends a TCP RST. When false it closes the closest way the runtime has (a FIN, or aborted streams). */
  readonly reset: boolean;
  /** `closeWrite()` sends a FIN while reading goes on. */
  readonly halfClose: boolean;
  /** `keepAlive` turns the kernel's TCP keepalive on or off. */
  readonly keepAlive: boolean;
  /** `keepAlive: ms` sets the initial delay. When false but `keepAlive` is true, the kernel's default delay applies. */
  readonly keepAliveDelay: boolean;
  /** `noDelay` sets TCP_NODELAY. */
  readonly noDelay: boolean;
  /** An accepted plaintext connection can be upgraded to TLS as the server, keeping bytes read before the upgrade. */
  readonly serverStartTls: boolean;
  /** Over TLS, a FIN without `close_notify` (a truncation) is told apart from a clean TLS close (`ended`: `truncated`). */
  readonly tlsTruncation: boolean;
  /**
   * The runtime may report a peer's RST as a clean end (Node before 24). hangup
   * probes at every end and reports the reset, except once our own write side is
   * shut, when the runtime leaves nothing to probe (docs/runtimes.md: "Node's false EOF").
   */
  readonly falseEof: boolean;
  /** `listen` (and so `serve` of a listener) exists. */
  readonly listen: boolean;
  /** `connect` and `listen` take a Unix socket `path`. */
  readonly unixSockets: boolean;
  /** `wrap(native)` makes a `Conn` over a socket opened outside hangup. */
  readonly wrap: boolean;
}

/**
 * Freezes an adapter's capabilities, so no caller can change what the suite and
 * the README are checked against.
 *
 * @example
 * ```ts
 * import { defineCapabilities } from "hangup/core";
 * export const capabilities = defineCapabilities({
 *   reset: true, halfClose: true, keepAlive: true, keepAliveDelay: true, noDelay: true,
 *   serverStartTls: false, tlsTruncation: false, falseEof: false,
 *   listen: true, unixSockets: true, wrap: true,
 * });
 * ```
 */
export function defineCapabilities(capabilities: Capabilities): Readonly<Capabilities> {
  return Object.freeze({ ...capabilities });
}
