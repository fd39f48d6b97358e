// The free names the TSDoc examples of src/ and adapters/ take for granted, declared for
// scripts/check-doc-snippets.mjs (never loaded by the library). Typed as a reader would guess.
type Core = typeof import("hangup/core");
type ConnSource<Native = unknown> = import("hangup/core").ConnSource<Native>;
type ResolvedTlsOptions = import("hangup/core").ResolvedTlsOptions;

/** A runtime socket of an imagined runtime, with callbacks and Node-style events. */
interface MySocket {
  onData(bytes: Uint8Array): void;
  onEnd(): void;
  onClose(err?: Error): void;
  on(event: "data", listener: (bytes: Uint8Array) => void): void;
  on(event: "end" | "close", listener: () => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  pause(): void;
  resume(): void;
  writeAll(bytes: Uint8Array): Promise<void>;
  shutdown(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
  abort(): void;
  localAddr: import("hangup/core").Addr;
  remoteAddr: import("hangup/core").Addr;
  readable: ReadableStream<Uint8Array<ArrayBuffer>>;
  writable: WritableStream<Uint8Array>;
}
/** A connection of a runtime read by asking. */
interface MyConn {
  read(buffer: Uint8Array): Promise<number | null>;
  writeAll(bytes: Uint8Array): Promise<void>;
  closeWrite(): Promise<void>;
  close(): void;
  abort(): void;
}
/** An adapter's source over a `MySocket`. */
declare const MySource: new (socket: MySocket, endpoint?: import("hangup/core").Endpoint) => ConnSource<MySocket>;
/** A listening socket with Node-style events. */
declare const server: {
  port: number;
  onConnection: ((socket: MySocket) => void) | undefined;
  on(event: "connection", listener: (socket: MySocket) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  once(event: "error", listener: (err: Error) => void): void;
  close(): Promise<void>;
};

declare const conn: HangupConn;
declare const listener: import("hangup/core").Listener<import("hangup/core").TcpAddr>;
declare const socket: MySocket;
declare const myConn: MyConn;
declare const source: ConnSource;
declare const mySource: ConnSource;
declare const tcpSource: ConnSource;
declare const sink: import("hangup/core").ConnSink & import("hangup/core").ListenerSink;
declare const endpoint: import("hangup/core").Endpoint;
declare const options: import("hangup/core").ConnectOptions;
declare const connOptions: import("hangup/core").ConnOptions;
declare const tlsOptions: ResolvedTlsOptions;
declare const tls: ResolvedTlsOptions;
declare const transport: import("hangup/core").PullTransport<MyConn>;
declare const wire: import("hangup/core").TlsWire;
declare const events: import("hangup/core").TlsEvents;
declare const myEngine: import("hangup/core").TlsEngine;
declare const engine: import("hangup/core").TlsEngine;
declare const myListenerSource: import("hangup/core").ListenerSource;
declare const err: unknown;
declare const localAddr: import("hangup/core").Addr, remoteAddr: import("hangup/core").Addr;
declare const tlsSource: import("hangup/core").TlsSource;
declare const steps: import("hangup/core").ConnectSteps<MySocket, MySocket>;
declare const runtimeError: Error;
declare const signal: AbortSignal | undefined;
declare const shutdown: AbortSignal;
declare const closing: AbortController;
declare const attempt: Promise<MySocket>;
declare const pending: Promise<MySocket>;
declare const native: unknown;
declare const reply: string;
declare const bigReply: Uint8Array;
declare const query: string;
declare const readAhead: Uint8Array;
declare const idle: import("hangup/core").Conn[];
declare const caPem: string, certPem: string, keyPem: string;
declare const cert: string, key: string, otherKey: string;
declare function use(bytes: Uint8Array): void;
declare function handle(value: unknown): void;
declare function handler(conn: import("hangup/core").Conn): Promise<void>;
declare function answerMetrics(conn: import("hangup/core").Conn): Promise<void>;
declare function retryLater(): void;
declare function stop(): void;
declare function poll(): void;
declare function reject(reason: unknown): void;
declare function toSource(socket: MySocket): ConnSource;
declare function openSocket(): Promise<MySocket>;
declare function mySocketConnect(endpoint: import("hangup/core").Endpoint, options: { signal: AbortSignal | undefined }): Promise<MySocket>;
declare function myListen(endpoint: import("hangup/core").Endpoint, backlog: number | undefined): {
  addr: import("hangup/core").Addr;
  onConnection(listener: (socket: MySocket) => void): void;
  close(): Promise<void>;
};
declare function myBind(
  endpoint: import("hangup/core").Endpoint,
): import("hangup/core").ListenerSource<import("hangup/core").Addr, MySocket>;
declare function myContext(options: ResolvedTlsOptions): object;
declare function myClientTls(
  tcp: ConnSource,
  serverName: string,
  options: ResolvedTlsOptions,
  signal: AbortSignal | undefined,
): Promise<ConnSource>;
declare function myServerTls(tcp: ConnSource, context: object, options: ResolvedTlsOptions): Promise<ConnSource>;
declare function keepForNextOwner(conn: MyConn, pending: Promise<Uint8Array | null> | undefined): void;
