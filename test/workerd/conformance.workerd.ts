/**
 * The Workers adapter in real workerd (the `workerd` package's binary): a test Worker
 * connects with hangup to the raw-socket peer, which plays FIN, RST, half-close and the
 * rest on cue; the Worker answers what hangup reported. Run by `npm test` under vitest
 * (`vitest.workerd.config.ts`): workerd is driven from Node, whichever runtime is tested.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import process from "node:process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll } from "vitest";
import { assertColumnMatches } from "../support/capabilities-table.ts";
import { describe, test } from "../support/harness.ts";
import { connect as nodeConnect } from "../../adapters/node.ts";
import { PgClient } from "../../examples/postgres/client.ts";
import { patterned, type Peer, type PeerCert, recvSlowly, sha256, withPeer } from "../support/peer.ts";
import { withPostgres } from "../support/postgres.ts";
import { freePort } from "../support/free-port.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let workerd: ChildProcess | undefined;
let base = "";

beforeAll(async () => {
  execFileSync(join(root, "node_modules", ".bin", "esbuild"), [
    "test/workerd/worker.ts",
    "--bundle",
    "--format=esm",
    "--platform=neutral",
    "--target=es2022",
    "--external:cloudflare:sockets",
    "--outfile=.cache/workerd/worker.js",
    "--log-level=warning",
  ], { cwd: root, stdio: "inherit" });
  const port = await freePort();
  workerd = spawn(join(root, "node_modules", ".bin", "workerd"), [
    "serve",
    "test/workerd/config.capnp",
    "--socket-addr",
    `http=127.0.0.1:${port}`,
  ], {
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
function withWorkerCase(
  name: string,
  body: (peer: Peer, remote: number, result: Promise<Result>) => Promise<void>,
  listenOptions: Parameters<Peer["listen"]>[0] = {},
): Promise<void> {
  return withPeer(async (peer) => {
    const { listener, port } = await peer.listen(listenOptions);
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

  test("close() after a big write keeps the request until the peer has every byte, though the peer still sends and reads slowly", () =>
    withWorkerCase("close-after-write", async (peer, remote, result) => {
      const size = 2 << 20;
      // Had the request ended at once, workerd would drop the socket: the peer's next bytes would
      // meet it closed, and the kernel's RST would discard what it still held of ours.
      const flooding = peer.send(remote, { size: 1 << 30, fill: 0x61 });
      const got = await recvSlowly(peer, remote, size);
      const r = await result;
      await flooding;
      assert.equal(r.closed, size);
      assert.equal(got.length, size, `the peer got ${got.length} of ${size} bytes`);
      assert.equal(got.sha256, sha256(new Uint8Array(size).map((_, i) => i % 251)));
    }, { rcvbuf: 16384 }));

  test('reset after data: the bytes, then ConnectionResetError (workerd\'s "Network connection lost.")', () =>
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

  test(
    "write after the peer closed: rejects with a typed SocketError",
    () =>
      withWorkerCase("write-after-peer-close", async (peer, remote, result) => {
        await peer.send(remote, { text: "bye", then: "close" });
        const r = await result;
        assert.equal(r.ended, "eof");
        assert.equal(r.writeError?.isSocketError, true, JSON.stringify(r.writeError));
      }),
    { timeout: 20_000 },
  );

  test("an aborted read rejects with signal.reason; the connection stays usable", () =>
    withWorkerCase("abort", async (peer, remote, result) => {
      const r = await result;
      assert.equal(r.rejectedWithReason, true);
      const seen = await peer.recv(remote);
      assert.equal(new TextDecoder().decode(seen.data), "still usable");
    }));

  test("readExactly and lines over drip-fed bytes", () =>
    withWorkerCase("helpers", async (peer, remote, result) => {
      await peer.drip(remote, {
        data: new Uint8Array([0, 0, 0, 5, ...new TextEncoder().encode("helloa\r\nb\nc")]),
        intervalMs: 2,
        piece: 2,
      });
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

  for (
    const [name, how, reason] of [
      ["ends-by-reset", "reset()", "local"],
      ["ends-by-idle-timeout", "idleTimeout", "idle"],
      ["ends-by-idle-timeout-unrefd", "idleTimeout, unref()'d", "idle"],
      ["ends-by-signal", "an aborted signal", "aborted"],
      // workerd's close() sends what it queued first: the peer meets the end once it reads that.
      ["ends-by-write-timeout", "writeTimeout (the peer reads nothing, then reads)", "timeout"],
    ] as const
  ) {
    test(`ended by ${how}: the peer sees the connection end at once, not when the request ends`, () =>
      withWorkerCase(name, async (peer, remote, result) => {
        let answeredAt = Infinity;
        const answered = result.then((r) => {
          answeredAt = Date.now();
          return r;
        });
        // The write-timeout case: the peer reads nothing until the Worker has given up.
        if (reason === "timeout") await new Promise((resolve) => setTimeout(resolve, 1000));
        const seen = await peer.recv(remote, { timeoutMs: 2000 });
        const seenAt = Date.now();
        const r = await answered;
        assert.equal(r.ended, reason, JSON.stringify(r));
        // Workers cannot send an RST (README): reset() ends with a FIN; the others may meet an RST.
        if (name === "ends-by-reset") assert.equal(seen.end, "eof", "the peer saw a FIN");
        else assert.ok(seen.end === "eof" || seen.end === "reset", `the peer saw ${seen.end}`);
        assert.ok(seenAt < answeredAt - 500, "while the request was still going on");
      }));
  }

  test("nothing listening: connect rejects with ConnectionRefusedError", async () => {
    const port = await freePort();
    const r = await run("refused", port);
    assert.equal(r.error?.isRefused, true, JSON.stringify(r.error));
    assert.equal(r.error?.code, "ECONNREFUSED");
  });

  test("with a signal already aborted, connect rejects with its reason and never dials", async () => {
    const server = createServer();
    let dialed = 0;
    server.on("connection", (socket) => (dialed++, socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const r = await run("preAborted", (server.address() as { port: number }).port);
      assert.equal(r.error?.message, "pool closed", JSON.stringify(r.error));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(dialed, 0, "no connection reached the server");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('capabilities: frozen, and the README\'s capabilities table, column "Workers", agrees with them', async () => {
    const r = await run("capabilities", 0);
    assert.equal(r.frozen, true);
    const readme = readFileSync(join(root, "README.md"), "utf8");
    assertColumnMatches(readme, "Workers", r.capabilities as Parameters<typeof assertColumnMatches>[2]);
  });
});

/** A Worker TLS case: the peer accepts, runs the TLS server handshake (certificate `cert`), then plays `body`. */
function withWorkerTls(
  name: string,
  body: (peer: Peer, remote: number, result: Promise<Result>) => Promise<void>,
  cert?: PeerCert,
): Promise<void> {
  return withWorkerCase(name, async (peer, remote, result) => {
    const handshake = await peer.tls(remote, { side: "server", cert });
    if (cert === undefined) assert.equal(handshake.protocol, "TLSv1.3", JSON.stringify(handshake));
    await body(peer, remote, result);
  });
}

describe("Cloudflare Workers adapter, in real workerd: TLS (secureTransport), against the Python ssl peer", () => {
  test("close_notify then FIN: every byte, then eof; conn.tls is set", () =>
    withWorkerTls("tls-drain", async (peer, remote, result) => {
      const sent = await peer.send(remote, { size: 300_000, then: "close_notify" });
      const r = await result;
      assert.equal(r.length, 300_000);
      assert.equal(r.sha256, sent.sha256);
      assert.equal(r.error, undefined);
      assert.equal(r.ended, "eof");
      assert.deepEqual(r.tls, { protocol: "TLS", alpnProtocol: null, serverName: null, peerCertificate: null }, "no SNI for an IP address");
    }));

  test("FIN without close_notify: every byte, then ConnectionResetError (fallback: workerd reports it as a reset), never eof", () =>
    withWorkerTls("tls-drain", async (peer, remote, result) => {
      const sent = await peer.send(remote, { size: 100_000, then: "fin" });
      const r = await result;
      assert.equal(r.length, 100_000);
      assert.equal(r.sha256, sent.sha256);
      assert.equal(r.error?.isReset, true, JSON.stringify(r.error));
      assert.equal(r.error?.code, "ECONNRESET");
      assert.equal(r.error?.message, "Cannot read: connection reset by peer");
      assert.equal(r.ended, "reset");
    }));

  test("RST: the bytes before it, then ConnectionResetError, never eof", () =>
    withWorkerTls("tls-drain", async (peer, remote, result) => {
      const sent = await peer.send(remote, { size: 1000, then: "rst" });
      const r = await result;
      assert.equal(r.length, 1000);
      assert.equal(r.sha256, sent.sha256);
      assert.equal(r.error?.isReset, true, JSON.stringify(r.error));
      assert.equal(r.ended, "reset");
    }));

  test("a record that does not decrypt: the stream's start, then a SocketError, never eof, truncated or a hang (fallback: workerd drops what came with the broken record)", () =>
    withWorkerTls("tls-drain", async (peer, remote, result) => {
      // The peer's connection stays open until the Worker has answered: only the TLS layer can tell.
      const data = patterned(50_000);
      await peer.send(remote, { data, then: "forged_record" });
      const r = await result;
      assert.ok((r.length as number) <= data.length);
      assert.equal(r.sha256, sha256(data.subarray(0, r.length as number)), "what is yielded is the stream's start, unaltered");
      assert.equal(r.error?.isSocketError, true, JSON.stringify(r.error));
      assert.equal(r.error?.isReset, false, "a broken record is not a reset");
      assert.equal(r.error?.isTruncated, false, "nor a truncation");
      // workerd hides the TLS library's reason behind "internal error; reference = …".
      assert.match(r.error?.message as string, /^Cannot read: /);
      assert.equal(r.error?.code, "ERR_SOCKET");
      assert.equal(r.ended, "error");
    }));

  test("close_notify without FIN: eof at the close_notify; the Worker can still write, then close", () =>
    withWorkerTls("tls-close-notify-no-fin", async (peer, remote, result) => {
      await peer.send(remote, { text: "bye" });
      await peer.closeNotify(remote, { fin: false });
      const r = await result;
      assert.deepEqual(r, { text: "bye", ended: "eof" });
      const seen = await peer.recv(remote, { timeoutMs: 5000 });
      assert.equal(new TextDecoder().decode(seen.data), "still here");
    }));

  test("close(): the peer gets every byte, then close_notify and FIN", () =>
    withWorkerTls("tls-close", async (peer, remote, result) => {
      const seen = await peer.recv(remote, { timeoutMs: 5000 });
      assert.equal(new TextDecoder().decode(seen.data), "bye");
      assert.equal(seen.end, "eof", "close_notify came before the FIN");
      assert.equal((await result).ended, "local");
    }));

  test("silence: idleTimeout ends it as for plaintext", () =>
    withWorkerTls("tls-idle", async (_peer, _remote, result) => {
      const r = await result;
      assert.equal(r.ended, "idle");
      assert.equal(r.error, "IdleTimeoutError");
    }));

  for (const cert of ["expired", "selfsigned", "wrongname"] as const) {
    test(`a bad certificate (${cert}): TlsHandshakeError, code ERR_TLS_HANDSHAKE (workerd has one generic error), the runtime's error as cause`, () =>
      withWorkerCase("tls-connect-error", async (peer, remote, result) => {
        const handshake = await peer.tls(remote, { side: "server", cert });
        assert.ok(handshake.handshakeError, "the peer saw the handshake fail too");
        const r = await result;
        assert.equal(r.error?.isHandshake, true, JSON.stringify(r.error));
        assert.equal(r.error?.name, "TlsHandshakeError");
        assert.equal(r.error?.code, "ERR_TLS_HANDSHAKE");
        assert.match(
          r.error?.message as string,
          /^Cannot connect to 127\.0\.0\.1:\d+: the TCP connection or its TLS handshake failed \(workerd does not say which\): /,
        );
        assert.equal(typeof r.error?.causeMessage, "string");
      }));
  }

  test("a server that never answers the ClientHello: TlsHandshakeError after handshakeTimeout", () =>
    withWorkerCase("tls-connect-error", async (_peer, _remote, result) => {
      const r = await result;
      assert.equal(r.error?.isHandshake, true, JSON.stringify(r.error));
      assert.equal(r.error?.code, "ERR_TLS_HANDSHAKE");
      assert.match(r.error?.message as string, /did not finish within 500 ms/);
      assert.ok((r.elapsed as number) >= 450 && (r.elapsed as number) < 4000, `rejected after ${String(r.elapsed)} ms`);
    }));

  test("nothing listening: connect with tls rejects with the same TlsHandshakeError (fallback: workerd's one error for both)", async () => {
    const port = await freePort();
    const r = await run("tls-connect-error", port);
    assert.equal(r.error?.isHandshake, true, JSON.stringify(r.error));
    assert.equal(r.error?.code, "ERR_TLS_HANDSHAKE");
    assert.equal(r.error?.causeMessage, "proxy request failed, cannot connect to the specified address");
  });

  test("TLS options workerd has no counterpart for throw a TypeError naming them", async () => {
    const r = await run("tls-bad-options", 1);
    const errors = r.errors as Array<Record<string, unknown>>;
    const expected = [
      /^tls\.ca is not supported on Workers/,
      /^tls\.alpnProtocols is not supported/,
      /^tls\.rejectUnauthorized is not supported/,
      /^tls\.serverName is not supported/,
      /tls\.handshakeTimeout/,
    ];
    assert.equal(errors.length, expected.length);
    for (const [i, pattern] of expected.entries()) {
      assert.match(String(errors[i]!.message), pattern, JSON.stringify(errors[i]));
      assert.equal(errors[i]!.name, i === 4 ? "RangeError" : "TypeError");
    }
  });

  test("STARTTLS client: plaintext exchange, startTls, bytes both ways, then a clean end; the plaintext conn is consumed", () =>
    withWorkerCase("starttls", async (peer, remote, result) => {
      assert.equal(new TextDecoder().decode((await peer.recv(remote, { count: 10 })).data), "STARTTLS\r\n");
      await peer.send(remote, { text: "220 go ahead\r\n" });
      const hs = await peer.tls(remote, { side: "server" });
      assert.equal(hs.protocol, "TLSv1.3", JSON.stringify(hs));
      assert.equal(new TextDecoder().decode((await peer.recv(remote, { count: 5 })).data), "hello");
      const sent = await peer.send(remote, { size: 100_000, then: "close_notify" });
      const r = await result;
      assert.equal(r.reply, "220 go ahead\r\n");
      assert.equal((r.plainAfter as { name?: string } | undefined)?.name, "SocketClosedError");
      assert.match(String((r.plainAfter as { message?: string }).message), /^Cannot read: the connection was handed to startTls\(\)$/);
      assert.equal(r.length, 100_000);
      assert.equal(r.sha256, sent.sha256);
      assert.equal(r.ended, "eof");
      assert.equal((r.tls as { protocol?: string }).protocol, "TLS");
    }));

  test("STARTTLS client: the upgraded connection keeps the options connect was given (idleTimeout)", () =>
    withWorkerCase("starttls-idle", async (peer, remote, result) => {
      const hs = await peer.tls(remote, { side: "server" });
      assert.equal(hs.protocol, "TLSv1.3", JSON.stringify(hs));
      const r = await result; // the peer says nothing more
      assert.equal(r.length, 0);
      assert.equal(r.error?.name, "IdleTimeoutError", JSON.stringify(r.error));
      assert.equal(r.ended, "idle");
    }));

  test("STARTTLS client: a command written without awaiting right before startTls() goes out first", () =>
    withWorkerCase("starttls-pipelined", async (peer, remote, result) => {
      assert.equal(
        new TextDecoder().decode((await peer.recv(remote, { count: 9 })).data),
        "UPGRADE\r\n",
        "the command, then the ClientHello",
      );
      const hs = await peer.tls(remote, { side: "server" });
      assert.equal(hs.protocol, "TLSv1.3", JSON.stringify(hs));
      assert.equal(new TextDecoder().decode((await peer.recv(remote, { count: 5 })).data), "hello");
      await peer.send(remote, { text: "bye", then: "close_notify" });
      const r = await result;
      assert.equal(r.ended, "eof");
    }));

  test("STARTTLS client, then FIN without close_notify: eof (fallback: workerd's upgraded socket reports a truncation as a clean end)", () =>
    withWorkerCase("starttls", async (peer, remote, result) => {
      await peer.recv(remote, { count: 10 });
      await peer.send(remote, { text: "220 go ahead\r\n" });
      assert.equal((await peer.tls(remote, { side: "server" })).protocol, "TLSv1.3");
      await peer.recv(remote, { count: 5 });
      const sent = await peer.send(remote, { size: 100_000, then: "fin" });
      const r = await result;
      assert.equal(r.sha256, sent.sha256);
      assert.equal(r.error, undefined);
      assert.equal(r.ended, "eof");
    }));

  test("STARTTLS client, then RST: ConnectionResetError, never eof", () =>
    withWorkerCase("starttls", async (peer, remote, result) => {
      await peer.recv(remote, { count: 10 });
      await peer.send(remote, { text: "220 go ahead\r\n" });
      assert.equal((await peer.tls(remote, { side: "server" })).protocol, "TLSv1.3");
      await peer.recv(remote, { count: 5 });
      await peer.send(remote, { size: 1000, then: "rst" });
      const r = await result;
      assert.equal(r.length, 1000);
      assert.equal(r.error?.isReset, true, JSON.stringify(r.error));
      assert.equal(r.ended, "reset");
    }));

  test("STARTTLS client: plaintext the server sent behind its reply rejects the upgrade with TlsHandshakeError", () =>
    withWorkerCase("starttls-early-bytes", async (peer, remote, result) => {
      await peer.recv(remote, { count: 10 });
      await peer.send(remote, { text: "220 go ahead\r\nINJECTED" });
      const r = await result;
      assert.equal(r.reply, "220 go ahead\r\n");
      assert.equal(r.error?.isHandshake, true, JSON.stringify(r.error));
      assert.match(r.error?.message as string, /^Cannot start TLS with 127\.0\.0\.1:\d+: the server sent 8 bytes before the TLS handshake/);
    }));

  test("STARTTLS with a read pending: refused with a TypeError that says so; the connection and its read go on", () =>
    withWorkerCase("starttls-read-pending", async (peer, remote, result) => {
      assert.equal(new TextDecoder().decode((await peer.recv(remote, { count: 6, timeoutMs: 5000 })).data), "PING\r\n");
      await peer.send(remote, { text: "PONG\r\n" });
      const r = await result;
      assert.equal(r.error?.isTypeError, true, JSON.stringify(r.error));
      assert.equal(r.error?.message, "Cannot start TLS while a read is pending on this connection; await it first");
      assert.equal(r.reply, "PONG\r\n");
    }));

  test("STARTTLS server side: refused with a TypeError (Workers cannot accept connections)", () =>
    withWorkerCase("starttls-server-side", async (_peer, _remote, result) => {
      const r = await result;
      assert.equal(r.error?.isTypeError, true, JSON.stringify(r.error));
      assert.match(r.error?.message as string, /options\.side must be "client"/);
    }));
});

describe("Cloudflare Workers adapter, in real workerd: PostgreSQL over STARTTLS (examples/postgres/client.ts against a real server)", () => {
  test(
    "rows, a 4 MB value whole, an error's SQLSTATE; Terminate ends with close_notify (eof)",
    () =>
      withPostgres(async (server) => {
        const r = await run("postgres", server.port);
        assert.equal((r.tls as { protocol?: string } | undefined)?.protocol, "TLS", "workerd does not say which version");
        assert.equal(r.rows, 1000);
        assert.deepEqual(r.first, ["1", createHash("md5").update("1").digest("hex")]);
        assert.deepEqual(r.last, ["1000", createHash("md5").update("1000").digest("hex")]);
        assert.equal(r.bigLength, 4_200_000);
        assert.equal(r.bigHashMatches, true, "the 4 MB value's bytes are the server's");
        assert.equal(r.error?.name, "PgError", JSON.stringify(r.error));
        assert.equal(r.error?.sqlstate, "22012");
        assert.equal(r.ended, "eof");
      }),
    { timeout: 60_000 },
  );

  test(
    "a backend killed mid-query: the query rejects, never a short result (fallback: workerd reports the FIN without close_notify as a clean end, so the client's own framing says the server closed mid-query)",
    () =>
      withPostgres(async (server) => {
        const result = run("postgres-killed", server.port);
        result.catch(() => {}); // awaited below; a failure before then is not unhandled
        const admin = await PgClient.login(await nodeConnect({ hostname: "127.0.0.1", port: server.port, idleTimeout: 20_000 }), {
          user: "hangup",
          database: "postgres",
        });
        let pid: string | null | undefined;
        try {
          // Sleeping: the backend has read the query, so its socket closes with a FIN, not an RST.
          for (let i = 0; i < 100 && !pid; i++) {
            const found = await admin.query(
              "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30) AS hangup_sleeps%' AND wait_event = 'PgSleep'",
            );
            pid = found.rows[0]?.[0];
            if (!pid) await new Promise((resolve) => setTimeout(resolve, 100));
          }
        } finally {
          admin.conn.reset();
        }
        assert.ok(pid && Number(pid) > 0, "the Worker's query never reached the server");
        process.kill(Number(pid), "SIGKILL");
        const r = await result;
        assert.equal(r.error?.name, "PgError", JSON.stringify(r));
        assert.match(r.error?.message as string, /the server closed the connection/);
        assert.equal(r.ended, "eof", "workerd cannot tell a truncation from a close_notify (README: what each runtime can and cannot do)");
      }),
    { timeout: 60_000 },
  );

  test(
    "SCRAM-SHA-256 without channel binding: Workers give no peer certificate, so the client says it does not bind, and the server accepts the login",
    () =>
      withPostgres(async (server) => {
        const r = await run("postgres-scram", server.port);
        assert.equal(r.authentication, "SCRAM-SHA-256", JSON.stringify(r));
        assert.deepEqual(r.rows, [["t"]], "the server sees this session over TLS");
      }, { password: "s3cret" }),
    { timeout: 60_000 },
  );
});
