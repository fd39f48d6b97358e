/**
 * Hand-off on Deno: give an accepted hangup `Conn` (after sniffing its first bytes) to an
 * HTTP server of Deno's, losing and repeating no byte.
 *
 * Deno's own server (`Deno.serve`) only serves connections it accepts itself; `Deno.serveHttp`,
 * which took a `Deno.Conn`, is gone from Deno 2's API, and it read the OS socket directly, so
 * the bytes already read ahead could not go back in front. The server that can take over a
 * connection is Deno's `node:http` one: `server.emit("connection", duplex)` with a Duplex that
 * yields `buffered` first, then the `Deno.Conn`'s own bytes.
 *
 * Deno 2.9's `node:http` server closes every connection after its first response while the
 * server is not listening itself (denoland/deno#35609): give it a listening socket, e.g.
 * `web.listen(0, "127.0.0.1")`, or keep-alive and pipelined requests are cut off.
 *
 * @example
 * ```ts
 * import * as http from "node:http";
 * import { listen, serve } from "hangup/deno";
 * import { handOffToHttp } from "./handoff/deno.ts";
 * const web = http.createServer((req, res) => res.end("hello\n"));
 * web.listen(0, "127.0.0.1"); // see above: Deno closes handed-over connections otherwise
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

/** What the hand-off uses of a `Deno.Conn` (typed here so the example type-checks anywhere). */
export interface DenoConnLike {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
  setKeepAlive?(keepAlive?: boolean): void;
  readonly remoteAddr: { transport: string; hostname?: string; port?: number };
}

/** Gives `conn`'s `Deno.Conn`, with the bytes already read ahead, to the `node:http` `server`. */
export function handOffToHttp(conn: Conn<DenoConnLike>, server: http.Server): void {
  const { buffered, native } = conn.unwrap();
  server.emit("connection", duplexOf(buffered, native));
}

async function writeAll(conn: DenoConnLike, bytes: Uint8Array): Promise<void> {
  for (let rest = bytes; rest.length > 0;) rest = rest.subarray(await conn.write(rest));
}

/** A Duplex that yields `buffered`, then what `native` reads; writes go to `native`. */
export function duplexOf(buffered: Uint8Array, native: DenoConnLike): Duplex {
  let pumping = false;
  let touch = (): void => {};
  const duplex = new Duplex({
    read() {
      if (pumping) return;
      pumping = true;
      void (async () => {
        try {
          for (;;) {
            const chunk = new Uint8Array(65536);
            const n = await native.read(chunk);
            touch();
            if (n === null) return void duplex.push(null);
            if (!duplex.push(chunk.subarray(0, n))) return;
          }
        } catch (err) {
          duplex.destroy(err as Error);
        } finally {
          pumping = false;
        }
      })();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      touch();
      writeAll(native, chunk).then(() => callback(), callback);
    },
    final(callback) {
      native.closeWrite().then(() => callback(), callback);
    },
    destroy(err, callback) {
      try {
        native.close();
      } catch {
        // Already closed: nothing left to release.
      }
      callback(err);
    },
  });
  touch = addSocketMethods(duplex, {
    setNoDelay: (on) => native.setNoDelay?.(on),
    setKeepAlive: (on) => native.setKeepAlive?.(on),
  });
  const remote = native.remoteAddr;
  Object.assign(duplex, { remoteAddress: remote.hostname, remotePort: remote.port });
  if (buffered.length > 0) duplex.push(buffered);
  return duplex;
}
