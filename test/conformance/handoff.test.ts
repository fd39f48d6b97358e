/**
 * The hand-off recipes of examples/handoff/: a server sniffs a connection's first bytes with
 * `peek({ bytes })`, then gives it to the runtime's HTTP server (Node's `http.Server`; on Deno
 * and Bun their `node:http` server, fed a Duplex: their own servers cannot take a socket over).
 * A real HTTP client, and the peer dripping raw HTTP one byte at a time, must get their
 * responses, and the HTTP server must see each request exactly once, byte for byte.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { Conn } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { sleep as sleepMs, text, within } from "../support/fixtures.ts";
import { withPeer } from "../support/peer.ts";
import { hangup, runtime } from "../support/runtime.ts";

const recipes: Record<typeof runtime, string> = {
  node: "../../examples/handoff/node.ts",
  deno: "../../examples/handoff/deno.ts",
  bun: "../../examples/handoff/bun.ts",
};
/**
 * Deno 2.9's node:http server closes a connection after each response while the server is not
 * listening itself (denoland/deno#35609): the recipe's workaround is a listening server.
 */
const DENO_NEEDS_LISTEN = runtime === "deno";

const { handOffToHttp } = (await import(recipes[runtime])) as { handOffToHttp: (conn: Conn, server: http.Server) => void };

interface Seen {
  method: string;
  url: string;
  id: string;
  body: string;
}

/** A sniffing hangup server in front of an HTTP server; `run` gets its port and what the HTTP server saw. */
async function withSniffer(
  run: (port: number, seen: Seen[], routed: string[]) => Promise<void>,
  webListens = DENO_NEEDS_LISTEN,
  handOffAfterMs = 0,
): Promise<void> {
  const seen: Seen[] = [];
  const routed: string[] = [];
  const sockets = new Set<{ destroy(): void }>();
  const web = http.createServer((req, res) => {
    const chunks: Uint8Array[] = [];
    req.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("latin1");
      seen.push({ method: req.method ?? "", url: req.url ?? "", id: String(req.headers["x-id"] ?? ""), body });
      res.setHeader("content-type", "text/plain");
      res.end(Buffer.from(`${req.method} ${req.url} ${body.length} ${body}`, "latin1"));
    });
  });
  web.on("connection", (socket: { destroy(): void }) => void sockets.add(socket));
  if (webListens) await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  const serving = hangup.serve(listener, async (conn) => {
    const head = await conn.peek({ bytes: 4, signal: AbortSignal.timeout(5000) });
    const first = head === null ? "" : text(head.subarray(0, 4));
    if (first === "PING") {
      routed.push("ping");
      await conn.readUntil("\n");
      await conn.write("PONG\n");
    } else if (/^(GET |POST|PUT |HEAD)$/.test(first)) {
      routed.push("http");
      if (handOffAfterMs > 0) await sleepMs(handOffAfterMs);
      handOffToHttp(conn, web);
    } else {
      routed.push(`other:${JSON.stringify(first)}`);
    }
  }, { signal: stop.signal });
  try {
    await run(listener.addr.port, seen, routed);
  } finally {
    for (const socket of sockets) socket.destroy();
    web.close();
    stop.abort();
    await serving;
  }
}

function request(method: string, url: string, id: string, body: string, close: boolean): string {
  return `${method} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Id: ${id}\r\nContent-Length: ${body.length}\r\n` +
    `${close ? "Connection: close\r\n" : ""}\r\n${body}`;
}

describe(`hand-off to the runtime's HTTP server (${runtime})`, () => {
  test("a real HTTP client (fetch) gets its response through the sniffer; the server saw the request once", () =>
    withSniffer(async (port, seen, routed) => {
      const body = "hello, handed-over world ".repeat(40);
      const response = await within(
        10_000,
        fetch(`http://127.0.0.1:${port}/fetch?x=1`, {
          method: "POST",
          headers: { "x-id": "f1" },
          body,
        }),
        "fetch",
      );
      assert.equal(response.status, 200);
      assert.equal(await response.text(), `POST /fetch?x=1 ${body.length} ${body}`);
      assert.deepEqual(routed, ["http"]);
      assert.deepEqual(seen, [{ method: "POST", url: "/fetch?x=1", id: "f1", body }]);
    }));

  test("two pipelined requests dripped one byte at a time: both answered, each seen once, byte for byte", () =>
    withSniffer((port, seen, routed) =>
      withPeer(async (peer) => {
        // Every body byte value appears, so a lost, repeated or re-ordered byte changes what the server sees.
        const body1 = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
        const body2 = "second";
        const wire = request("PUT", "/one", "d1", body1, false) + request("GET", "/two", "d2", body2, true);
        const conn = await peer.connect({ port });
        const dripped = peer.drip(conn, { data: new Uint8Array(Buffer.from(wire, "latin1")), intervalMs: 1 });
        const received = await peer.recv(conn, { timeoutMs: 10_000 });
        await dripped;
        assert.equal(received.end, "eof");
        const reply = Buffer.from(received.data).toString("latin1");
        const bodies = reply.split("HTTP/1.1 200 OK").slice(1).map((r) => r.slice(r.indexOf("\r\n\r\n") + 4));
        assert.deepEqual(bodies, [`PUT /one ${body1.length} ${body1}`, `GET /two ${body2.length} ${body2}`]);
        assert.deepEqual(routed, ["http"]);
        assert.deepEqual(seen, [
          { method: "PUT", url: "/one", id: "d1", body: body1 },
          { method: "GET", url: "/two", id: "d2", body: body2 },
        ]);
      })
    ));

  test("a client that sends its request and half-closes before a late hand-off gets its response, then the close", () =>
    withSniffer(
      (port, seen, routed) =>
        withPeer(async (peer) => {
          const conn = await peer.connect({ port });
          // The handler hands off 200 ms after sniffing: by then hangup has seen the client's FIN.
          await peer.send(conn, { text: request("POST", "/half", "h1", "half-closed", false), then: "fin" });
          const started = Date.now();
          const received = await peer.recv(conn, { timeoutMs: 4000 });
          assert.equal(received.end, "eof", `the server closes once it answered (after ${Date.now() - started} ms)`);
          const reply = Buffer.from(received.data).toString("latin1");
          assert.match(reply, /^HTTP\/1\.1 200 OK/);
          assert.ok(reply.endsWith("POST /half 11 half-closed"), reply);
          assert.deepEqual(routed, ["http"]);
          assert.deepEqual(seen, [{ method: "POST", url: "/half", id: "h1", body: "half-closed" }]);
        }),
      DENO_NEEDS_LISTEN,
      200,
    ));

  test("the same server still answers its own protocol, sniffed from bytes that arrive one at a time", () =>
    withSniffer((port, seen, routed) =>
      withPeer(async (peer) => {
        const conn = await peer.connect({ port });
        await peer.drip(conn, { text: "PING\n", intervalMs: 20 });
        const received = await peer.recv(conn, { count: 5 });
        assert.equal(text(received.data), "PONG\n");
        assert.deepEqual(routed, ["ping"]);
        assert.deepEqual(seen, []);
      })
    ));

  test("a hand-off leaves the listener and its other connections alone: one waiting across it gets its reply, a later one is accepted", () =>
    withSniffer((port, seen, routed) =>
      withPeer(async (peer) => {
        const waiting = await peer.connect({ port });
        await peer.send(waiting, { text: "PI" });
        const web = await peer.connect({ port });
        await peer.send(web, { text: request("GET", "/alone", "a1", "", true) });
        const reply = await peer.recv(web, { timeoutMs: 5000 });
        assert.match(text(reply.data), /^HTTP\/1.1 200 OK[\s\S]*GET \/alone 0 $/);
        // Bun's socket.reload() on an accepted socket replaces the handlers of its whole listener.
        await peer.send(waiting, { text: "NG\n" });
        assert.equal(text((await peer.recv(waiting, { count: 5, timeoutMs: 5000 })).data), "PONG\n");
        const later = await peer.connect({ port });
        await peer.send(later, { text: "PING\n" });
        assert.equal(text((await peer.recv(later, { count: 5, timeoutMs: 5000 })).data), "PONG\n");
        assert.deepEqual(routed, ["http", "ping", "ping"]);
        assert.deepEqual(seen.map((s) => s.url), ["/alone"]);
      })
    ));
});

/**
 * A request, its response, then a second request on the same connection 300 ms later: the
 * replies seen, and how the connection ended, for the caller to judge.
 */
function keepAlive(webListens: boolean): Promise<{ reply: string; end: string; urls: string[] }> {
  let outcome: { reply: string; end: string; urls: string[] } | undefined;
  return withSniffer((port, seen) =>
    withPeer(async (peer) => {
      const conn = await peer.connect({ port });
      await peer.drip(conn, { text: request("GET", "/first", "k1", "", false), intervalMs: 1, piece: 7 });
      const first = await peer.recv(conn, { count: 1, timeoutMs: 5000 });
      assert.equal(first.end, "count");
      const rest = peer.recv(conn, { timeoutMs: 3000 });
      await sleepMs(300);
      await peer.send(conn, { text: request("GET", "/second", "k2", "", true) }).catch(() => undefined);
      const received = await rest;
      outcome = { reply: text(first.data) + text(received.data), end: received.end, urls: seen.map((s) => s.url) };
    }), webListens).then(() => outcome!);
}

describe(`hand-off keep-alive (${runtime})`, () => {
  test("keep-alive with the recipe's server: a second request, sent after the first response, is answered on the same connection", async () => {
    const { reply, end, urls } = await keepAlive(DENO_NEEDS_LISTEN);
    assert.equal(end, "eof");
    assert.match(reply, /GET \/first 0 [\s\S]*GET \/second 0 $/);
    assert.deepEqual(urls, ["/first", "/second"]);
  });

  test(
    runtime === "deno"
      ? "Deno's node:http not listening itself closes the connection after the first response (the documented reason the recipe listens)"
      : "keep-alive with a server that is not listening itself: the same",
    async () => {
      const { reply, end, urls } = await keepAlive(false);
      if (runtime === "deno") {
        assert.equal(reply.split("HTTP/1.1 200 OK").length - 1, 1, reply);
        assert.deepEqual(urls, ["/first"]);
      } else {
        assert.equal(end, "eof");
        assert.match(reply, /GET \/first 0 [\s\S]*GET \/second 0 $/);
        assert.deepEqual(urls, ["/first", "/second"]);
      }
    },
  );
});
