/**
 * Hand-off on Bun: give an accepted hangup `Conn` (after sniffing its first bytes) to an
 * HTTP server of Bun's, losing and repeating no byte.
 *
 * `Bun.serve` only serves connections it accepts itself; it cannot take over a socket. The
 * server that can is Bun's `node:http` one: `server.emit("connection", duplex)` with a Duplex
 * that yields `buffered` first, then what the Bun socket receives once its `data` holds this
 * Duplex's handlers (`unwrap()` leaves it paused, so nothing arrives in between). hangup's
 * handlers route each event to the socket's `data`; `reload()` would not do here: on a socket
 * that `Bun.listen` accepted it replaces the handlers of every socket of the listener.
 *
 * @example
 * ```ts
 * import * as http from "node:http";
 * import { listen, serve } from "hangup/bun";
 * import { handOffToHttp } from "./handoff/bun.ts";
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
import { Duplex } from "node:stream";
import type { Conn } from "hangup";
import { addSocketMethods } from "./socket-methods.ts";

type Handler<A extends unknown[]> = (socket: unknown, ...args: A) => void;

/** What the hand-off uses of Bun's `Socket` (typed here so the example type-checks anywhere). */
export interface BunSocketLike {
  /** Where hangup's handlers send the socket's events (hangup/bun's `SocketOwner`). */
  data: {
    data: Handler<[Uint8Array]>;
    end: Handler<[]>;
    drain: Handler<[]>;
    close: Handler<[unknown?]>;
    error: Handler<[unknown]>;
  };
  pause(): void;
  resume(): void;
  /** Bytes taken now (possibly fewer than given, then `drain` follows), or -1 on a dead socket. */
  write(data: Uint8Array): number;
  shutdown(): void;
  end(): void;
  terminate(): void;
  setNoDelay(noDelay?: boolean): boolean;
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean;
  readonly remoteAddress: string;
}

/** Gives `conn`'s Bun socket, with the bytes already read ahead, to the `node:http` `server`. */
export function handOffToHttp(conn: Conn<BunSocketLike>, server: http.Server): void {
  // The client's FIN, if hangup saw it before the hand-off: Bun reports it once, to hangup.
  const peerEnded = conn.signal.aborted && (conn.signal.reason as { code?: string }).code === "ERR_EOF";
  const { buffered, native } = conn.unwrap();
  server.emit("connection", duplexOf(buffered, native, peerEnded));
}

/**
 * A Duplex that yields `buffered`, then what `native` receives (or, when `peerEnded`, its end);
 * writes go to `native`.
 */
export function duplexOf(buffered: Uint8Array, native: BunSocketLike, peerEnded = false): Duplex {
  let retry: (() => void) | undefined;
  let ended = false;
  let touch = (): void => {};
  const closedError = (): Error => new Error("Cannot write: the socket is closed");
  const duplex = new Duplex({
    read() {
      native.resume();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      touch();
      let rest = chunk;
      const attempt = (): void => {
        const n = native.write(rest);
        if (n < 0) return callback(closedError());
        rest = rest.subarray(n);
        if (rest.length === 0) return callback();
        retry = attempt;
      };
      attempt();
    },
    final(callback) {
      native.shutdown();
      callback();
    },
    destroy(err, callback) {
      if (err) native.terminate();
      else native.end();
      callback(err);
    },
  });
  const endOnce = (): void => {
    if (ended) return;
    ended = true;
    duplex.push(null);
  };
  native.data = {
    // Bun may reuse the chunk's memory after the handler returns.
    data: (_socket, chunk) => {
      touch();
      if (!duplex.push(new Uint8Array(chunk))) native.pause();
    },
    end: () => endOnce(),
    drain: () => {
      const attempt = retry;
      retry = undefined;
      attempt?.();
    },
    close: (_socket, err) => {
      // After our shutdown() Bun reports the peer's FIN as a close with no `end`.
      if (err) return void duplex.destroy(err as Error);
      endOnce();
      if (retry) duplex.destroy(closedError());
    },
    error: (_socket, err) => void duplex.destroy(err as Error),
  };
  touch = addSocketMethods(duplex, {
    setNoDelay: (on) => native.setNoDelay(on),
    setKeepAlive: (on) => native.setKeepAlive(on),
  });
  Object.assign(duplex, { remoteAddress: native.remoteAddress });
  if (buffered.length > 0) duplex.push(buffered);
  // The end a turn after the bytes, as a socket reads a FIN after the data before it: the
  // server answers the request before it sees the client gone (it aborts requests then).
  if (peerEnded) setImmediate(endOnce);
  native.resume();
  return duplex;
}
