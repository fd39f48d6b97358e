/**
 * One suite, three test runners: vitest under Node, `Deno.test` under Deno,
 * `bun:test` under Bun. Every case is also guarded: an unhandled rejection or an
 * uncaught exception while it runs fails it, and so does a case that overruns.
 */
import process from "node:process";

import { runtime } from "./detect.ts";

export { type Runtime, runtime } from "./detect.ts";

declare const Deno: {
  test(def: { name: string; fn: () => Promise<void>; ignore?: boolean; sanitizeOps: boolean; sanitizeResources: boolean }): void;
};

type Register = (name: string, fn: () => Promise<void>, timeoutMs: number) => void;
type RunnerTest = ((n: string, f: () => Promise<void>, t?: number) => void) & { skip: (n: string, f: () => Promise<void>) => void };

/** Registers a case, and registers a skipped case so that the runner reports it as skipped, by name. */
async function runner(): Promise<{ register: Register; registerSkip: (name: string) => void }> {
  const nothing = async (): Promise<void> => {};
  if (runtime === "deno") {
    return {
      register: (name, fn) => Deno!.test({ name, fn, sanitizeOps: false, sanitizeResources: false }),
      registerSkip: (name) => Deno!.test({ name, fn: nothing, ignore: true, sanitizeOps: false, sanitizeResources: false }),
    };
  }
  const runnerTest = runtime === "bun"
    ? ((await import("bun:test" as string)) as { test: RunnerTest }).test
    : ((await import("vitest")) as unknown as { test: RunnerTest }).test;
  return {
    register: (name, fn, timeoutMs) => runnerTest(name, fn, timeoutMs + 5_000),
    registerSkip: (name) => runnerTest.skip(name, nothing),
  };
}

const { register, registerSkip } = await runner();

const stray: unknown[] = [];
process.on("unhandledRejection", (reason) => void stray.push(reason));
process.on("uncaughtException", (error) => void stray.push(error));

let prefix = "";

/** Groups cases under a name. */
export function describe(name: string, body: () => void): void {
  const outer = prefix;
  prefix = `${outer}${name} › `;
  try {
    body();
  } finally {
    prefix = outer;
  }
}

type TestOptions = { timeout?: number };
type Test = (name: string, fn: () => Promise<void>, options?: TestOptions) => void;

/**
 * A case, run with a time limit and the crash guards.
 *
 * `test.skipIf(condition, reason)(name, fn)` registers the case as skipped when
 * `condition` holds, named `<name> [skipped: <reason>]`, so every runner lists it
 * as a skip by name instead of letting it pass silently. Key the condition on the
 * adapter's `capabilities`, and assert the runtime's documented fallback in a
 * case of its own.
 */
export const test: Test & { skipIf(condition: boolean, reason: string): Test } = Object.assign(runCase, {
  skipIf(condition: boolean, reason: string): Test {
    if (!condition) return runCase;
    return (name: string) => registerSkip(`${prefix}${name} [skipped: ${reason}]`);
  },
});

function runCase(name: string, fn: () => Promise<void>, options: TestOptions = {}): void {
  const timeoutMs = options.timeout ?? 15_000;
  const fullName = prefix + name;
  register(fullName, async () => {
    stray.length = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${fullName}: did not finish within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    // Let late rejections surface before judging.
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (stray.length > 0) {
      throw new Error(`${fullName}: unhandled rejection or uncaught exception: ${stray.map(String).join("; ")}`);
    }
  }, timeoutMs);
}
