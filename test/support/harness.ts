/**
 * One suite, three test runners: vitest under Node, `Deno.test` under Deno,
 * `bun:test` under Bun. Every case is also guarded: an unhandled rejection or an
 * uncaught exception while it runs fails it, and so does a case that overruns.
 */
import process from "node:process";

import { runtime } from "./detect.ts";

export { runtime, type Runtime } from "./detect.ts";

declare const Deno: { test(def: { name: string; fn: () => Promise<void>; sanitizeOps: boolean; sanitizeResources: boolean }): void };

type Register = (name: string, fn: () => Promise<void>, timeoutMs: number) => void;

async function runner(): Promise<Register> {
  if (runtime === "deno") {
    return (name, fn) => Deno!.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
  }
  if (runtime === "bun") {
    const bunTest = (await import("bun:test" as string)) as { test: (n: string, f: () => Promise<void>, t: number) => void };
    return (name, fn, timeoutMs) => bunTest.test(name, fn, timeoutMs + 5_000);
  }
  const vitest = await import("vitest");
  return (name, fn, timeoutMs) => vitest.test(name, fn, timeoutMs + 5_000);
}

const register = await runner();

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

/** A case, run with a time limit and the crash guards. */
export function test(name: string, fn: () => Promise<void>, options: { timeout?: number } = {}): void {
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
