/** serve(): concurrency, failures that never stop the server, maxConnections, draining. */
import assert from "node:assert/strict";
import type { Conn } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { sleep, text, within } from "../support/fixtures.ts";
import { type Peer, withPeer } from "../support/peer.ts";
import { hangup } from "../support/runtime.ts";

async function startServer(handler: (conn: Conn) => unknown, options: Parameters<typeof hangup.serve>[2] = {}) {
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
  const controller = new AbortController();
  const serving = hangup.serve(listener, handler, { signal: controller.signal, ...options });
  return { port: listener.addr.port, stop: () => controller.abort(), serving };
}

const echoLines = async (conn: Conn): Promise<void> => {
  for await (const line of conn.lines()) await conn.write(`echo: ${line}\n`);
};

async function ask(peer: Peer, port: number, question: string): Promise<string> {
  const remote = await peer.connect({ port });
  await peer.send(remote, { text: `${question}\n`, then: "fin" });
  const answer = await peer.recv(remote);
  await peer.close(remote);
  return text(answer.data);
}

describe("serve", () => {
  test("200 concurrent clients, a third of them resetting mid-request: every good client is answered", () =>
    withPeer(async (peer) => {
      const errors: unknown[] = [];
      const server = await startServer(echoLines, { onError: (err) => errors.push(err) });
      const clients = Array.from({ length: 200 }, async (_, i) => {
        const remote = await peer.connect({ port: server.port });
        if (i % 3 === 0) {
          await peer.send(remote, { text: "partial request without newl", then: "rst" });
          return "reset";
        }
        await peer.send(remote, { text: `hello ${i}\n`, then: "fin" });
        const answer = await peer.recv(remote);
        await peer.close(remote);
        return text(answer.data);
      });
      const answers = await Promise.all(clients);
      answers.forEach((answer, i) => assert.equal(answer, i % 3 === 0 ? "reset" : `echo: hello ${i}\n`));
      assert.equal(await ask(peer, server.port, "still up"), "echo: still up\n");
      server.stop();
      await within(10_000, server.serving, "serve resolves after abort");
      for (const err of errors) assert.equal((err as { code?: string }).code, "ECONNRESET");
    }), { timeout: 60_000 });

  test("the default onError: a handler's bug is printed; a shutdown through listen's signal and an onError that throws are told apart", () =>
    withPeer(async (peer) => {
      const printed: string[] = [];
      const error = console.error;
      console.error = (...args: unknown[]) => void printed.push(args.map(String).join(" "));
      try {
        const shutdown = new AbortController();
        const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, signal: shutdown.signal });
        let calls = 0;
        const serving = hangup.serve(listener, async (conn) => {
          if (++calls === 1) throw new Error("handler bug");
          for await (const _ of conn) { /* until the shutdown */ }
        });
        await peer.connect({ port: listener.addr.port });
        await sleep(100);
        await Promise.all([1, 2, 3].map(() => peer.connect({ port: listener.addr.port })));
        await sleep(200);
        shutdown.abort();
        await within(10_000, serving, "serve resolves after the shutdown");
        assert.deepEqual(printed.map((line) => line.split(":").slice(0, 3).join(":")), ["hangup: a connection handler threw: Error"]);

        printed.length = 0;
        const second = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
        const stop = new AbortController();
        const reporting = hangup.serve(second, () => Promise.reject(new Error("handler bug")), {
          signal: stop.signal,
          onError: () => {
            throw new Error("onError bug");
          },
        });
        await peer.connect({ port: second.addr.port });
        for (let i = 0; i < 50 && printed.length === 0; i++) await sleep(20);
        stop.abort();
        await within(10_000, reporting, "serve resolves");
        assert.equal(printed.length, 1);
        assert.match(printed[0]!, /^hangup: onError threw: Error: onError bug reporting: Error: handler bug$/);
      } finally {
        console.error = error;
      }
    }));

  test("a handler that throws reaches onError and the server keeps serving", () =>
    withPeer(async (peer) => {
      const seen: unknown[] = [];
      const boom = new Error("handler bug");
      let calls = 0;
      const server = await startServer(async (conn) => {
        if (++calls === 1) throw boom;
        await echoLines(conn);
      }, { onError: (err) => seen.push(err) });
      const first = await peer.connect({ port: server.port });
      assert.equal((await peer.recv(first)).end, "eof", "the failed handler's connection is closed");
      assert.equal(await ask(peer, server.port, "next"), "echo: next\n");
      assert.deepEqual(seen, [boom]);
      server.stop();
      await server.serving;
    }));

  test("maxConnections bounds the handlers running at once; extra clients are closed at once", () =>
    withPeer(async (peer) => {
      let running = 0;
      let most = 0;
      const server = await startServer(async (conn) => {
        most = Math.max(most, ++running);
        try {
          await conn.read();
        } finally {
          running--;
        }
      }, { maxConnections: 3, drainTimeout: 200 });
      const remotes = await Promise.all(Array.from({ length: 8 }, () => peer.connect({ port: server.port })));
      const ends = await Promise.all(remotes.map((r) => peer.recv(r, { timeoutMs: 1500 })));
      assert.equal(ends.filter((e) => e.end === "eof").length, 5, "five clients were turned away with a close");
      assert.equal(most, 3);
      server.stop();
      await within(15_000, server.serving, "serve resolves");
    }), { timeout: 30_000 });

  test("abort stops accepting; handlers get drainTimeout ms, then their connections are reset", () =>
    withPeer(async (peer) => {
      let finished = false;
      const server = await startServer(async (conn) => {
        try {
          await conn.read();
        } finally {
          finished = true;
        }
      }, { drainTimeout: 300 });
      const remote = await peer.connect({ port: server.port });
      await sleep(100);
      const started = Date.now();
      server.stop();
      await within(5000, server.serving, "serve resolves after the drain");
      const elapsed = Date.now() - started;
      assert.ok(finished);
      assert.ok(elapsed >= 250, `drained for ${elapsed} ms`);
      const seen = await peer.recv(remote);
      assert.ok(seen.end === "reset" || seen.end === "eof", `peer saw ${seen.end}`);
      const err = await peer.connect({ port: server.port }).then(() => "connected", () => "refused");
      assert.equal(err, "refused", "no new connections after abort");
    }));

  test("an abort after the listener was closed another way (listener.close(), await using) still drains the handlers", () =>
    withPeer(async (peer) => {
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      const controller = new AbortController();
      const serving = hangup.serve(listener, (conn) => conn.read(), { signal: controller.signal, drainTimeout: 300 });
      const remote = await peer.connect({ port: listener.addr.port });
      await sleep(100);
      await listener.close();
      await sleep(100);
      controller.abort();
      await within(3000, serving, "serve resolves after the drain");
      const seen = await peer.recv(remote);
      assert.ok(seen.end === "reset" || seen.end === "eof", `peer saw ${seen.end}`);
    }));

  test("an option serve() does not have is refused by name, not ignored", async () => {
    const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      await assert.rejects(hangup.serve(listener, echoLines, { drainTimout: 5000 } as never), {
        name: "TypeError",
        message: "options.drainTimout is not an option of serve (it has signal, drainTimeout, maxConnections, onError, writeTimeout)",
      });
      await assert.rejects(hangup.serve(listener, echoLines, { maxconnections: 5 } as never), {
        name: "TypeError",
        message: "options.maxconnections is not an option of serve: did you mean maxConnections?",
      });
    } finally {
      await listener.close();
    }
  });

  test("a second serve() of a listener being served rejects with TypeError and leaves the first serving", () =>
    withPeer(async (peer) => {
      const server = await startServer(echoLines);
      const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
      const stop = new AbortController();
      const first = hangup.serve(listener, echoLines, { signal: stop.signal });
      await assert.rejects(hangup.serve(listener, echoLines), {
        name: "TypeError",
        message: "Cannot serve: this listener is already being served",
      });
      assert.equal(await ask(peer, listener.addr.port, "still here"), "echo: still here\n");
      stop.abort();
      server.stop();
      await Promise.all([first, server.serving]);
    }));
});
