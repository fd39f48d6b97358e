/**
 * Runs a script of test/fixtures in a child process of the runtime under test (Node through
 * tsx, Deno, Bun), for what a test cannot watch from inside: a descriptor limit, or when the
 * process exits.
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runtime } from "./runtime.ts";

/** The command line that runs `script` on the runtime under test. */
export function runtimeCommand(script: string, args: string[] = []): string[] {
  if (runtime === "deno") {
    return [(globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath(), "run", "--allow-all", script, ...args];
  }
  if (runtime === "bun") return [process.execPath, script, ...args];
  return [process.execPath, "--import", "tsx", script, ...args];
}

/** What the child printed, its exit status, and when each line came (ms after the start) and when it exited. */
export interface ChildRun {
  status: number | null;
  stdout: string;
  stderr: string;
  lines: { text: string; at: number }[];
  exitedAt: number;
}

/** Runs `argv` (through `sh -c`, after `shellPrefix` such as "ulimit -n 64 &&"), killed after `killAfter` ms. */
export function runChild(argv: string[], options: { shellPrefix?: string; killAfter: number }): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn("sh", ["-c", `${options.shellPrefix ?? ""} exec "$@"`, "sh", ...argv], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const lines: ChildRun["lines"] = [];
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      for (const line of text.split("\n")) if (line !== "") lines.push({ text: line, at: Date.now() - started });
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => void (stderr += text));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.killAfter);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, lines, exitedAt: Date.now() - started });
    });
  });
}
