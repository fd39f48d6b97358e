// Type-checked by scripts/test-package.mjs against the packed tarball with plain `tsc`
// (NodeNext): "hangup" must give Node's declarations. Never run. No casts.
import * as net from "node:net";
import type { TLSSocket } from "node:tls";
import * as hangup from "hangup";
import {
  type Conn,
  connect,
  type DecodeFunction,
  type Decoder,
  type EndInfo,
  listen,
  runtime,
  serve,
  SocketError,
  startTls,
  wrap,
} from "hangup";
import { type ConnSource, createConn } from "hangup/core";

export async function consumer(source: ConnSource<net.Socket>): Promise<void> {
  const listener = await listen({ hostname: "127.0.0.1", port: 0 });
  const port: number = listener.addr.port;
  const unix = await listen({ path: "/tmp/consumer.sock" });
  const path: string = unix.addr.path;
  const conn: Conn<net.Socket> = await connect({ port });
  const socket: net.Socket = conn.unwrap().native;
  const wrapped: Conn<net.Socket> = wrap(new net.Socket());
  const ended: EndInfo = await wrapped.ended;
  if (ended.reason === "reset") console.log(ended.error.code === "ECONNRESET");
  if (ended.reason === "error") console.log(ended.error instanceof SocketError);
  if (ended.reason === "eof") console.log(ended.error === undefined);
  const peer = conn.remoteAddr;
  console.log(peer.transport === "tcp" ? peer.port : peer.path);
  if (runtime === "deno") console.log("runtime is the union of the four names");
  await serve(listener, (c) => c.unwrap().native.end());
  // @ts-expect-error adapter plumbing is exported from hangup/core only
  void hangup.withDeadline;
  createConn(source).unwrap().native.destroy();
  // Over TLS, native is the node:tls socket; a listener with tls needs cert and key.
  const secure: TLSSocket = (await connect({ port, tls: true })).unwrap().native;
  const upgraded: TLSSocket = (await startTls(conn)).unwrap().native;
  const tlsListener = await listen({ port: 0, tls: { cert: "PEM", key: "PEM" } });
  await serve(tlsListener, (c) => console.log(c.unwrap().native.getProtocol()));
  // @ts-expect-error accepting TLS needs cert and key
  void listen({ port: 0, tls: { ca: "PEM" } });
  // @ts-expect-error a server-side startTls needs cert and key
  void startTls(conn, { side: "server" });
  // @ts-expect-error TCP or a Unix socket, not both
  void connect({ port, path: "/tmp/consumer.sock" });
  console.log(secure.authorized, upgraded.authorized);
  // An option given as undefined is an option left out (a value read from configuration).
  const configured: { idleTimeout?: number; host?: string; signal?: AbortSignal } = {};
  const fromConfig = await connect({ hostname: configured.host, port, idleTimeout: configured.idleTimeout, tls: undefined });
  await serve(listener, () => {}, { signal: configured.signal, writeTimeout: undefined });
  console.log(fromConfig.localAddr);
  const unixFromConfig = await listen({ path: "/tmp/consumer.sock", hostname: undefined, port: undefined });
  console.log(unixFromConfig.addr.path);
  // Iterated by hand, each iterable's value is its element type or undefined, never any.
  const byte: DecodeFunction<number> = (bytes) => (bytes.length > 0 ? { value: bytes[0]!, used: 1 } : undefined);
  const pair: Decoder<string> = { decode: (bytes) => (bytes.length < 2 ? { need: 2 } : { value: "ab", used: 2 }) };
  const first: number | undefined = (await conn.decode(byte).next()).value;
  const named: string | undefined = (await conn.decode(pair).next()).value;
  const line: string | undefined = (await conn.lines().next()).value;
  const chunk: Uint8Array | undefined = (await conn[Symbol.asyncIterator]().next()).value;
  const accepted: Conn<net.Socket> | undefined = (await listener[Symbol.asyncIterator]().next()).value;
  // @ts-expect-error a decoded number is not a string
  const wrongDecoded: string | undefined = (await conn.decode(byte).next()).value;
  // @ts-expect-error a line is not a number
  const wrongLine: number | undefined = (await conn.lines().next()).value;
  // @ts-expect-error a chunk is not a Date
  const wrongChunk: Date | undefined = (await conn[Symbol.asyncIterator]().next()).value;
  // @ts-expect-error an accepted connection is not a string
  const wrongAccepted: string | undefined = (await listener[Symbol.asyncIterator]().next()).value;
  console.log(first, named, line, chunk, accepted, wrongDecoded, wrongLine, wrongChunk, wrongAccepted);
  console.log(path, socket.remotePort);
}
