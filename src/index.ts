/**
 * `hangup/core`: the runtime-neutral heart of hangup. It imports no `node:*`,
 * no `Deno` and no `Bun`; every adapter is built on `createConn` and
 * `createListener`, so a third-party adapter is a first-class citizen.
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
export {
  AddressInUseError,
  BrokenPipeError,
  ConnectionAbortedError,
  ConnectionRefusedError,
  ConnectionResetError,
  IdleTimeoutError,
  LimitExceededError,
  SocketClosedError,
  SocketError,
  type SocketErrorOptions,
  TimedOutError,
  UnexpectedEofError,
} from "./errors.ts";
export { type SocketOperation, toSocketError } from "./to-socket-error.ts";
export { createConn } from "./conn.ts";
export { fromStreams, type StreamPair } from "./from-streams.ts";
export { createListener } from "./listener.ts";
export { serve, type ServeOptions } from "./serve.ts";
export type { ConnSink, ConnSource, ListenerSink, ListenerSource } from "./source.ts";
export type { Addr, Conn, ConnOptions, EndInfo, EndReason, Listener, OperationOptions, ScanOptions } from "./types.ts";
export { resolveConnOptions, type ResolvedConnOptions } from "./options.ts";
export { withDeadline, type DeadlineOptions } from "./deadline.ts";
export {
  checkConnectOptions,
  checkListenOptions,
  type ConnectOptions,
  connOptionsOf,
  type Endpoint,
  type ListenOptions,
  tcpAddr,
} from "./endpoint-options.ts";
export { type Capabilities, defineCapabilities } from "./capabilities.ts";
export { claim, isClaimed, release } from "./owned.ts";
