#!/usr/bin/env node
// Every ```ts block of README.md, CONTRIBUTING.md and docs/*.md is type-checked, so the
// examples users copy cannot rot. Each block becomes a module of its own and is compiled
// against this repository's sources: `hangup` resolves to the adapter of the block's runtime.
//
// A block may be preceded (blank lines allowed) by one HTML comment that says how to check it:
//   <!-- check: runtime=deno context=conn,pem -->
// runtime: node (default; tsc with @types/node), bun (tsc with bun-types), workerd (tsc, no
//   Node types, cloudflare:sockets), deno (`deno check`, Deno's own types).
// context: declarations prepended, unseen by the reader, for names a fragment assumes (below).
// Usage: node scripts/check-doc-snippets.mjs [file.md ...]
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, ".cache", "doc-snippets");
const abs = (p) => join(root, p);

/** Names a fragment may take for granted. Each is a declaration only: nothing runs. */
const CONTEXTS = {
  conn: `import type { Conn as __Conn } from "hangup";\ndeclare const conn: __Conn;`,
  listener: `import type { Listener as __Listener, TcpAddr as __TcpAddr } from "hangup";\ndeclare const listener: __Listener<__TcpAddr>;`,
  pem: `declare const caPem: string;\ndeclare const certPem: string;\ndeclare const keyPem: string;`,
  socket: [
    `declare const socket: {`,
    `  onData(bytes: Uint8Array): void; onEnd(): void; onClose(err?: Error): void;`,
    `  pause(): void; resume(): void; writeAll(bytes: Uint8Array): Promise<void>; shutdown(): Promise<void>;`,
    `  close(): Promise<void>; destroy(): void; abort(): void;`,
    `};`,
    `type MySocket = typeof socket;`,
  ].join("\n"),
  other: `declare const otherLibrary: { takeOver(native: unknown, buffered: Uint8Array): void };`,
};

const RUNTIMES = {
  node: { tsconfig: "tsconfig.json", adapter: "adapters/node.ts" },
  bun: { tsconfig: "tsconfig.bun.json", adapter: "adapters/bun.ts" },
  workerd: { tsconfig: "tsconfig.workerd.json", adapter: "adapters/workerd.ts", extra: ["adapters/cloudflare-sockets.d.ts"] },
  deno: { adapter: "adapters/deno.ts" },
};

function markdownFiles() {
  if (process.argv.length > 2) return process.argv.slice(2).map((f) => relative(root, join(process.cwd(), f)));
  const docs = readdirSync(abs("docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`);
  return ["README.md", "CONTRIBUTING.md", ...docs.sort()];
}

/** The ```ts blocks of one file, with their directive and the line each starts on. */
function blocksOf(file) {
  const lines = readFileSync(abs(file), "utf8").split("\n");
  const blocks = [];
  let directive;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const comment = line.match(/^<!--\s*check:(.*?)-->\s*$/);
    if (comment) {
      directive = Object.fromEntries(comment[1].trim().split(/\s+/).filter(Boolean).map((kv) => kv.split("=")));
      continue;
    }
    const fence = line.match(/^```(\w*)\s*$/);
    if (fence) {
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
      if (end === lines.length) throw new Error(`${file}:${i + 1}: unclosed code block`);
      if (fence[1] === "ts" || fence[1] === "typescript") {
        blocks.push({ file, line: start + 1, code: lines.slice(start, end).join("\n"), directive: directive ?? {} });
      } else if (directive) throw new Error(`${file}:${i + 1}: a check directive before a \`\`\`${fence[1]} block, which is not checked`);
      directive = undefined;
      i = end;
      continue;
    }
    if (line.trim() !== "") directive = undefined;
  }
  return blocks;
}

const files = markdownFiles();
const blocks = files.flatMap(blocksOf);
rmSync(out, { recursive: true, force: true });
const byRuntime = new Map();
const sourceOf = new Map(); // generated file -> { block, offset }
for (const [index, block] of blocks.entries()) {
  const runtime = block.directive.runtime ?? "node";
  if (!RUNTIMES[runtime]) throw new Error(`${block.file}:${block.line}: unknown runtime ${runtime}`);
  const contexts = (block.directive.context ?? "").split(",").filter(Boolean);
  for (const c of contexts) if (!CONTEXTS[c]) throw new Error(`${block.file}:${block.line}: unknown context ${c}`);
  const preamble = contexts.map((c) => CONTEXTS[c]).join("\n");
  const offset = preamble === "" ? 0 : preamble.split("\n").length;
  const dir = join(out, runtime);
  mkdirSync(dir, { recursive: true });
  const name = `${block.file.replace(/[/.]/g, "_")}_${String(index).padStart(3, "0")}.ts`;
  // `export {}` makes every block a module: top-level await works and names do not collide.
  writeFileSync(join(dir, name), `${preamble}${preamble ? "\n" : ""}${block.code}\nexport {};\n`);
  sourceOf.set(name, { block, offset });
  byRuntime.set(runtime, [...(byRuntime.get(runtime) ?? []), name]);
}

function tscConfig(runtime, names) {
  const { tsconfig, adapter, extra = [] } = RUNTIMES[runtime];
  const dir = join(out, runtime);
  const config = {
    extends: abs(tsconfig),
    compilerOptions: {
      // A snippet is an example, not a published declaration.
      isolatedDeclarations: false,
      declaration: false,
      paths: { hangup: [abs(adapter)], [`hangup/${runtime}`]: [abs(adapter)], "hangup/core": [abs("src/index.ts")] },
    },
    include: [],
    files: [...names, ...extra.map(abs)],
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config, null, 2));
  return [join(root, "node_modules", ".bin", "tsc"), ["-p", join(dir, "tsconfig.json"), "--pretty", "false"]];
}

function denoCheck(names) {
  const dir = join(out, "deno");
  // The repository's deno.json (compiler options, node_modules for node:* types) and a map for "hangup".
  const map = { imports: { hangup: abs("adapters/deno.ts"), "hangup/deno": abs("adapters/deno.ts"), "hangup/core": abs("src/index.ts") } };
  writeFileSync(join(dir, "import_map.json"), JSON.stringify(map, null, 2));
  const args = [
    "check",
    "--quiet",
    "--config",
    abs("deno.json"),
    "--import-map",
    join(dir, "import_map.json"),
    ...names.map((n) => join(dir, n)),
  ];
  return [join(root, "node_modules", ".bin", "deno"), args];
}

/** Rewrites `.cache/doc-snippets/<runtime>/<name>.ts(12,5)` (or a Deno location) to the Markdown line. */
function mapLocations(text) {
  // deno-lint-ignore no-control-regex -- terminal colour codes begin with ESC
  const strip = text.replace(/\x1b\[[0-9;]*m/g, "");
  return strip.replace(
    /(?:file:\/\/)?(?:[^\s(]*doc-snippets\/\w+\/)?(\w+_\d{3}\.ts)(?:\((\d+),(\d+)\)|:(\d+):(\d+))/g,
    (all, name, l1, c1, l2, c2) => {
      const source = sourceOf.get(name);
      if (!source) return all;
      const line = Number(l1 ?? l2) - source.offset;
      return `${source.block.file}:${source.block.line + line - 1}:${c1 ?? c2}`;
    },
  );
}

// deno-lint-ignore no-control-regex -- terminal colour codes begin with ESC
const rawOf = (child) => ((child.stdout ?? "") + (child.stderr ?? "")).replace(/\x1b\[[0-9;]*m/g, "");
let failed = 0;
for (const [runtime, names] of byRuntime) {
  const [cmd, args] = runtime === "deno" ? denoCheck(names) : tscConfig(runtime, names);
  const child = spawnSync(cmd, args, { cwd: join(out, runtime), encoding: "utf8" });
  const output = mapLocations((child.stdout ?? "") + (child.stderr ?? ""));
  const ok = child.status === 0;
  console.log(`${ok ? "ok  " : "FAIL"} ${runtime}: ${names.length} snippets`);
  if (!ok) {
    // The snippets the errors name; all of them if the checker failed before naming any.
    const blamed = new Set((rawOf(child).match(/\w+_\d{3}\.ts/g) ?? []).filter((n) => sourceOf.has(n)));
    failed += blamed.size > 0 ? blamed.size : names.length;
    process.stdout.write(output.endsWith("\n") ? output : `${output}\n`);
  }
}
console.log(`${files.length} files, ${blocks.length} snippets`);
console.log(`${blocks.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && blocks.length > 0 ? 0 : 1);
