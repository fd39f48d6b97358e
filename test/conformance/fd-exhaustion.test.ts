/**
 * Out of file descriptors, `connect` says so (code EMFILE) on every runtime: Bun 1.4 reports
 * the failed socket() as ECONNREFUSED, which the Bun adapter tells apart. Run in a child
 * process under `ulimit -n 64`, so the suite itself keeps its descriptors.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, test } from "../support/harness.ts";
import { runtime } from "../support/runtime.ts";

const script = fileURLToPath(new URL("../fixtures/emfile-connect.ts", import.meta.url));

function command(): string[] {
  if (runtime === "deno") {
    return [(globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath(), "run", "--allow-all", script];
  }
  if (runtime === "bun") return [process.execPath, script];
  return [process.execPath, "--import", "tsx", script];
}

function runLimited(): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", 'ulimit -n 64 && exec "$@"', "sh", ...command()], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => void (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => void (stderr += text));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe(`out of file descriptors (${runtime})`, () => {
  test("connect rejects with a SocketError coded EMFILE, not ConnectionRefusedError", async () => {
    const { status, stdout, stderr } = await runLimited();
    assert.equal(status, 0, stderr);
    const outcome = JSON.parse(stdout.trim().split("\n").pop()!) as { held?: number; name?: string; code?: string; message?: string };
    assert.ok((outcome.held ?? 0) > 0, stdout);
    assert.equal(outcome.code, "EMFILE", stdout);
    assert.equal(outcome.name, "SocketError", stdout);
    assert.equal(outcome.message, "Cannot connect: too many open files in this process");
  }, { timeout: 40_000 });
});
