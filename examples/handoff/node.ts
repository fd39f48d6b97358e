/**
 * Hand-off on Node: give an accepted hangup `Conn` (after sniffing its first bytes) to
 * Node's own `http.Server`, losing and repeating no byte.
 *
 * Three steps, each needed (measured on Node 20 and 24):
 * - `unshift(buffered)`: the bytes hangup read ahead go back in front of the socket's stream.
 *   Without it the server parses from the middle of the request (`HPE_INVALID_METHOD`).
 * - `emit("connection", native)`: the server takes the socket as if it had accepted it.
 * - `resume()`: `unwrap()` leaves the socket paused, and the server does not resume a
 *   paused socket; the unshifted bytes reach its parser only when the stream flows.
 *
 * @example
 * ```ts
 * import * as http from "node:http";
 * import { listen, serve } from "hangup/node";
 * import { handOffToHttp } from "./handoff/node.ts";
 * const web = http.createServer((req, res) => res.end("hello\n"));
 * await serve(await listen({ port: 8080 }), async (conn) => {
 *   const head = await conn.peek({ bytes: 4 });
 *   if (head !== null && /^(GET |POST|HEAD)/.test(new TextDecoder().decode(head.subarray(0, 4)))) handOffToHttp(conn, web);
 * });
 * ```
 *
 * @module
 */
import type * as http from "node:http";
import type * as net from "node:net";
import { Duplex } from "node:stream";
import type { Conn } from "hangup";
import { addSocketMethods } from "./socket-methods.ts";

/** Gives `conn`'s socket, with the bytes already read ahead, to `server`; `conn` is done after it. */
export function handOffToHttp(conn: Conn<net.Socket>, server: http.Server): void {
  const { buffered, native } = conn.unwrap();
  // The client sent its FIN before the hand-off and hangup saw it: the socket's stream has ended,
  // and bytes cannot be put back in front of it. The server gets a Duplex with them instead.
  if (native.readableEnded) return void server.emit("connection", endedDuplex(buffered, native));
  if (buffered.length > 0) native.unshift(buffered);
  server.emit("connection", native);
  native.resume();
}

/** A Duplex that yields `buffered`, then ends (the peer's FIN); writes go to `native`. */
function endedDuplex(buffered: Uint8Array, native: net.Socket): Duplex {
  let touch = (): void => {};
  const duplex = new Duplex({
    read() {},
    write(chunk: Uint8Array, _encoding, callback) {
      touch();
      native.write(chunk, (err) => callback(err ?? undefined));
    },
    final(callback) {
      native.end(() => callback());
    },
    destroy(err, callback) {
      native.destroy(err ?? undefined);
      callback(err);
    },
  });
  native.on("error", (err) => duplex.destroy(err));
  touch = addSocketMethods(duplex, {
    setNoDelay: (on) => native.setNoDelay(on),
    setKeepAlive: (on) => native.setKeepAlive(on),
  });
  Object.assign(duplex, { remoteAddress: native.remoteAddress, remotePort: native.remotePort });
  if (buffered.length > 0) duplex.push(buffered);
  // The end a turn after the bytes, as a socket reads a FIN after the data before it: the
  // server answers the request before it sees the client gone (it aborts requests then).
  setImmediate(() => duplex.push(null));
  return duplex;
}
