/**
 * The user API every entry shares (`hangup`, `hangup/<runtime>`, `hangup/core`):
 * the error classes, `toSocketError`, `fromStreams`, `serve` and the public types.
 * Each adapter adds `connect`, `startTls`, `runtime` and `capabilities`, and `listen` and
 * `wrap` except on Workers (a Worker cannot listen); the adapter contract and its helpers are
 * exported from `hangup/core` only.
 *
 * @example
 * ```ts
 * import { ConnectionResetError, serve, type Conn } from "hangup";
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
  TlsHandshakeError,
  type TlsHandshakeErrorOptions,
  TlsTruncatedError,
  UnexpectedEofError,
  WriteTimeoutError,
} from "./errors.ts";
export { type SocketOperation, toSocketError } from "./to-socket-error.ts";
export type { Capabilities } from "./capabilities.ts";
export { fromStreams, type StreamNative, type StreamPair } from "./from-streams.ts";
export { serve, type ServeOptions } from "./serve.ts";
export type {
  Addr,
  Conn,
  ConnOptions,
  DecodeFunction,
  Decoder,
  DecodeResult,
  EndInfo,
  EndReason,
  Listener,
  OperationOptions,
  PeekOptions,
  Runtime,
  ScanOptions,
  ServerTlsOptions,
  TcpAddr,
  TlsInfo,
  TlsOptions,
  UnixAddr,
} from "./types.ts";
export type { ConnectOptions, ListenOptions, TcpListenOptions, UnixListenOptions } from "./endpoint-options.ts";
