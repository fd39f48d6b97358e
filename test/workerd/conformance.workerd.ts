/**
 * The Workers adapter in real workerd (the `workerd` package's binary): a test Worker
 * connects with hangup to the raw-socket peer, which plays FIN, RST, half-close and the
 * rest on cue; the Worker answers what hangup reported. Run by `npm test` under vitest
 * (`vitest.workerd.config.ts`): workerd is driven from Node, whichever runtime is tested.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll } from "vitest";
import { assertColumnMatches } from "../support/capabilities-table.ts";
import { describe, test } from "../support/harness.ts";
import { type Peer, sha256, withPeer } from "../support/peer.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let workerd: ChildProcess | undefined;
let base = "";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = address !== null && typeof address === "object" ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  execFileSync(join(root, "node_modules", ".bin", "esbuild"), [
    "test/workerd/worker.ts", "--bundle", "--format=esm", "--platform=neutral", "--target=es2022",
    "--external:cloudflare:sockets", "--outfile=.cache/workerd/worker.js", "--log-level=warning",
  ], { cwd: root, stdio: "inherit" });
  const port = await freePort();
  workerd = spawn(join(root, "node_modules", ".bin", "workerd"), ["serve", "test/workerd/config.capnp", "--socket-addr", `http=127.0.0.1:${port}`], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/run?case=none`)).status === 404) return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("workerd did not start serving within 10 s");
}, 30_000);

afterAll(() => {
  workerd?.kill();
});

type Result = Record<string, unknown> & { error?: Record<string, unknown>; writeError?: Record<string, unknown> };

async function run(name: string, port: number): Promise<Result> {
  const response = await fetch(`${base}/run?case=${name}&port=${port}`);
  const body = (await response.json()) as Result;
  assert.equal(response.status, 200, `the Worker crashed: ${JSON.stringify(body)}`);
  return body;
}

/**
 * Worker case `name` against a fresh peer: the Worker connects, the peer accepts, and `body`
 * plays its part on the accepted socket (`remote`) while `result` waits for the Worker's answer.
 */
function withWorkerCase(name: string, body: (peer: Peer, remote: number, result: Promise<Result>) => Promise<void>): Promise<void> {
  return withPeer(async (peer) => {
    const { listener, port } = await peer.listen();
    const result = run(name, port);
    const remote = await peer.accept(listener);
    await body(peer, remote, result);
  });
}

describe("Cloudflare Workers adapter, in real workerd (hangup as client)", () => {
  test("EOF: every byte, then the loop ends; ended is eof", () =>
    withWorkerCase("eof", async (peer, remote, result) => {
      const sent = await peer.send(remote, { size: 200_000, then: "fin" });
      const r = await result;
      assert.equal(r.length, 200_000);
      assert.equal(r.sha256, sent.sha256);
      assert.equal(r.error, undefined);
      assert.equal(r.ended, "eof");
    }));

  test("reset after data: the bytes, then ConnectionResetError (workerd's \"Network connection lost.\")", () =>
    withWorkerCase("reset", async (peer, remote, result) => {
      const sent = await peer.send(remote, { size: 1000, then: "rst" });
      const r = await result;
      assert.equal(r.length, 1000);
      assert.equal(r.sha256, sent.sha256);
      assert.equal(r.error?.isReset, true, JSON.stringify(r.error));
      assert.equal(r.error?.code, "ECONNRESET");
      assert.equal(r.ended, "reset");
    }));

  test("half-close: closeWrite sends FIN and the peer's reply is still read", () =>
    withWorkerCase("half-close", async (peer, remote, result) => {
      const seen = await peer.recv(remote);
      assert.equal(new TextDecoder().decode(seen.data), "request");
      assert.equal(seen.end, "eof");
      await peer.send(remote, { text: "response", then: "fin" });
      const r = await result;
      assert.equal(r.sha256, sha256(new TextEncoder().encode("response")));
      assert.equal(r.ended, "eof");
    }));

  test("write after the peer closed: rejects with a typed SocketError", () =>
    withWorkerCase("write-after-peer-close", async (peer, remote, result) => {
      await peer.send(remote, { text: "bye", then: "close" });
      const r = await result;
      assert.equal(r.ended, "eof");
      assert.equal(r.writeError?.isSocketError, true, JSON.stringify(r.writeError));
    }), { timeout: 20_000 });

  test("an aborted read rejects with signal.reason; the connection stays usable", () =>
    withWorkerCase("abort", async (peer, remote, result) => {
      const r = await result;
      assert.equal(r.rejectedWithReason, true);
      const seen = await peer.recv(remote);
      assert.equal(new TextDecoder().decode(seen.data), "still usable");
    }));

  test("readExactly and lines over drip-fed bytes", () =>
    withWorkerCase("helpers", async (peer, remote, result) => {
      await peer.drip(remote, { data: new Uint8Array([0, 0, 0, 5, ...new TextEncoder().encode("helloa\r\nb\nc")]), intervalMs: 2, piece: 2 });
      await peer.fin(remote);
      const r = await result;
      assert.deepEqual(r, { length: 5, payload: "hello", lines: ["a", "b", "c"] });
    }));

  test("EOF mid-frame: UnexpectedEofError with the partial bytes", () =>
    withWorkerCase("unexpected-eof", async (peer, remote, result) => {
      await peer.send(remote, { size: 30, then: "fin" });
      const r = await result;
      assert.equal(r.error?.isUnexpectedEof, true, JSON.stringify(r.error));
      assert.equal(r.error?.partial, 30);
    }));

  test("idleTimeout: a silent peer is reported as idle", () =>
    withWorkerCase("idle", async (_peer, _remote, result) => {
      const r = await result;
      assert.equal(r.ended, "idle");
      assert.equal(r.error, "IdleTimeoutError");
      assert.ok((r.elapsed as number) >= 250 && (r.elapsed as number) < 3000, `idle after ${String(r.elapsed)} ms`);
    }));

  test("nothing listening: connect rejects with ConnectionRefusedError", async () => {
    const port = await freePort();
    const r = await run("refused", port);
    assert.equal(r.error?.isRefused, true, JSON.stringify(r.error));
    assert.equal(r.error?.code, "ECONNREFUSED");
  });

  test("capabilities: frozen, and the README's capabilities table, column \"Workers\", agrees with them", async () => {
    const r = await run("capabilities", 0);
    assert.equal(r.frozen, true);
    const readme = readFileSync(join(root, "README.md"), "utf8");
    assertColumnMatches(readme, "Workers", r.capabilities as Parameters<typeof assertColumnMatches>[2]);
  });
});
