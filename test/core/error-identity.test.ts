/**
 * Error identity across copies of hangup in one process: two minified bundles (one ESM of the
 * error module, one CJS of the whole core, as a Worker bundler or a CJS dependency would make
 * them), loaded side by side. Every `instanceof` answer across the copies must match the class
 * hierarchy: a class name is not a brand.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as source from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const esbuild = join(root, "node_modules", ".bin", "esbuild");

/** Every error class, by the name it is exported under. */
const CLASS_NAMES = [
  "SocketError",
  "ConnectionResetError",
  "ConnectionAbortedError",
  "ConnectionRefusedError",
  "BrokenPipeError",
  "TimedOutError",
  "IdleTimeoutError",
  "WriteTimeoutError",
  "UnexpectedEofError",
  "LimitExceededError",
  "SocketClosedError",
  "AddressInUseError",
  "TlsHandshakeError",
  "TlsTruncatedError",
] as const;
type ClassName = (typeof CLASS_NAMES)[number];
type ErrorClass = new (...args: never[]) => Error;
type Copy = Record<ClassName, ErrorClass>;

function instanceOf(copy: Copy, name: ClassName): Error {
  const Class = copy[name] as unknown as new (...args: unknown[]) => Error;
  if (name === "SocketError") return new Class("Cannot read: something", "EIO");
  if (name === "UnexpectedEofError") return new Class(new Uint8Array(1));
  if (name === "LimitExceededError") return new Class(16);
  return new Class();
}

/** What `instanceof` must answer: the same class, or the base class. */
const expected = (value: ClassName, Class: ClassName): boolean => value === Class || Class === "SocketError";

function bundle(dir: string, entry: string, format: "esm" | "cjs"): string {
  const outfile = join(dir, `${format}-copy.${format === "esm" ? "mjs" : "cjs"}`);
  execFileSync(esbuild, [
    join(root, entry),
    "--bundle",
    "--minify",
    `--format=${format}`,
    "--platform=neutral",
    "--target=es2022",
    `--outfile=${outfile}`,
  ], {
    stdio: ["ignore", "ignore", "pipe"],
    timeout: 60_000,
  });
  return outfile;
}

describe("error identity", () => {
  test("two minified copies (ESM and CJS) in one process answer every cross-copy instanceof by the hierarchy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hangup-identity-"));
    try {
      const esm = (await import(pathToFileURL(bundle(dir, "src/errors.ts", "esm")).href)) as Copy;
      const cjs = createRequire(import.meta.url)(bundle(dir, "src/index.ts", "cjs")) as Copy;
      const copies: Record<string, Copy> = { source: source as unknown as Copy, esm, cjs };
      for (const copy of Object.values(copies)) for (const name of CLASS_NAMES) assert.equal(typeof copy[name], "function", name);
      assert.notEqual(esm.ConnectionResetError, cjs.ConnectionResetError, "the copies must be distinct classes");

      const wrong: string[] = [];
      let answers = 0;
      for (const [valueCopy, values] of Object.entries(copies)) {
        for (const valueName of CLASS_NAMES) {
          const value = instanceOf(values, valueName);
          assert.equal(value.name, valueName, "name survives minification");
          for (const [classCopy, classes] of Object.entries(copies)) {
            for (const className of CLASS_NAMES) {
              answers++;
              const got = value instanceof classes[className];
              if (got !== expected(valueName, className)) {
                wrong.push(`${valueCopy} ${valueName} instanceof ${classCopy} ${className}: ${got}`);
              }
            }
          }
        }
      }
      assert.equal(answers, 3 * 14 * 3 * 14);
      assert.deepEqual(wrong, []);
      // Brands never make an unrelated object pass, nor a plain Error.
      assert.ok(!(new Error("plain") instanceof esm.SocketError));
      assert.ok(!({ name: "ConnectionResetError", code: "ECONNRESET" } instanceof cjs.ConnectionResetError));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeout: 60_000 });

  test("a subclass written by a user matches by prototype only, not by its parent's brand", async () => {
    class MyReset extends source.ConnectionResetError {}
    assert.ok(new MyReset() instanceof source.ConnectionResetError);
    assert.ok(new MyReset() instanceof source.SocketError);
    assert.ok(!(new source.ConnectionResetError() instanceof MyReset));
  });
});
