/**
 * `hangup/core`: the runtime-neutral heart of hangup. It imports no `node:*`,
 * no `Deno` and no `Bun`. Besides the user API of every entry, it exports the
 * adapter contract (`createConn`, `createListener`, their source types) and the
 * helpers the adapters share: every adapter is built on them, so a third-party
 * adapter is a first-class citizen.
 *
 * @example
 * ```ts
 * import { createConn, ConnectionResetError } from "hangup/core";
 * const conn = createConn(mySource);
 * try { for await (const chunk of conn) use(chunk); }
 * catch (err) { if (err instanceof ConnectionResetError) console.log("reset"); }
 * ```
 *
 * @module
 */
export * from "./public.ts";
export { createConn } from "./conn.ts";
export { createListener } from "./listener.ts";
export type { ConnSink, ConnSource, ListenerSink, ListenerSource } from "./source.ts";
export { type TlsEngine, type TlsEvents, TlsSource, type TlsWire } from "./tls-source.ts";
export { checkTlsOptions, DEFAULT_HANDSHAKE_TIMEOUT, type ResolvedTlsOptions } from "./tls-options.ts";
export { resolveConnOptions, type ResolvedConnOptions } from "./options.ts";
export { type DeadlineOptions, withDeadline } from "./deadline.ts";
export { checkConnectOptions, checkListenOptions, connOptionsOf, type Endpoint, tcpAddr } from "./endpoint-options.ts";
export { defineCapabilities } from "./capabilities.ts";
export { claim, isClaimed, release } from "./owned.ts";
export {
  type ConnectSteps,
  connectWith,
  flushBeforeUpgrade,
  type ListenSteps,
  listenWith,
  locateFailure,
  type TlsHooks,
} from "./adapter-kit.ts";
export { PullSource, type PullTransport } from "./pull-source.ts";
