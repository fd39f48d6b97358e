/**
 * `src/` is the runtime-neutral core: no `node:*` module, no `Deno` or `Bun` API, no Node
 * socket or Buffer — not in code, and not named in TSDoc either, which users read as the
 * contract of `hangup/core`. Runtime facts belong in `adapters/`.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "../support/harness.ts";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");

/** What a runtime-specific reference looks like in TypeScript source. */
const RUNTIME_APIS = [/\bnode:[a-z]/, /\bDeno\.[A-Za-z]/, /\bBun\.[A-Za-z]/, /\bnet\.Socket\b/, /\bBuffer\b/, /\bprocess\.[a-z]/];

describe("the core is runtime-neutral", () => {
  test("no file in src/ imports or names a runtime's API", async () => {
    const found: string[] = [];
    const files = readdirSync(src).filter((name) => name.endsWith(".ts"));
    assert.ok(files.length > 10, `read ${files.length} files from ${src}`);
    for (const name of files) {
      readFileSync(join(src, name), "utf8").split("\n").forEach((line, index) => {
        if (RUNTIME_APIS.some((pattern) => pattern.test(line))) found.push(`src/${name}:${index + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(found, []);
  });
});
