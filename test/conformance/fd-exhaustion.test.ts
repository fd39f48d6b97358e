/**
 * Out of file descriptors, `connect` and `listen` say so (code EMFILE) on every runtime: Bun 1.4
 * reports the failed socket() as ECONNREFUSED, and a failed listen with no code, which the Bun
 * adapter tells apart. Run in a child
 * process under `ulimit -n 64`, so the suite itself keeps its descriptors.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, test } from "../support/harness.ts";
import { runChild, runtimeCommand } from "../support/child.ts";
import { runtime } from "../support/runtime.ts";

const script = fileURLToPath(new URL("../fixtures/emfile-connect.ts", import.meta.url));

describe(`out of file descriptors (${runtime})`, () => {
  test("connect rejects with a SocketError coded EMFILE, not ConnectionRefusedError; so does listen", async () => {
    const { status, stdout, stderr } = await runChild(runtimeCommand(script), { shellPrefix: "ulimit -n 64 &&", killAfter: 30_000 });
    assert.equal(status, 0, stderr);
    type Failure = { name?: string; code?: string; message?: string };
    const outcome = JSON.parse(stdout.trim().split("\n").pop()!) as Failure & { held?: number; listen: Failure };
    assert.ok((outcome.held ?? 0) > 0, stdout);
    assert.equal(outcome.code, "EMFILE", stdout);
    assert.equal(outcome.name, "SocketError", stdout);
    assert.match(outcome.message ?? "", /^Cannot connect to 127\.0\.0\.1:\d+: too many open files in this process$/);
    assert.equal(outcome.listen.code, "EMFILE", stdout);
    assert.equal(outcome.listen.name, "SocketError", stdout);
    assert.equal(outcome.listen.message, "Cannot listen on 127.0.0.1:0: too many open files in this process", stdout);
  }, { timeout: 40_000 });
});
