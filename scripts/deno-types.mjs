#!/usr/bin/env node
// Writes .cache/types/deno/index.d.ts: Deno's own declarations (`deno types`), for the `.d.ts`
// build of adapters/deno.ts with tsc. Library references tsc does not know are dropped;
// the timer functions they carried are declared here.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const types = execFileSync(join(root, "node_modules", ".bin", "deno"), ["types"], { encoding: "utf8", maxBuffer: 64 << 20 });
const kept = types.split("\n").filter((line) => !/^\/\/\/ <reference lib="(deno\.|node")/.test(line));
kept.push(
  "declare function setTimeout(callback: (...args: any[]) => void, delay?: number): number;",
  "declare function clearTimeout(id?: number): void;",
);
mkdirSync(join(root, ".cache", "types", "deno"), { recursive: true });
writeFileSync(join(root, ".cache", "types", "deno", "index.d.ts"), kept.join("\n"));
