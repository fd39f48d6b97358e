#!/usr/bin/env node
// Every ```ts block of README.md, CONTRIBUTING.md and docs/*.md is type-checked, so the
// examples users copy cannot rot. Each block becomes a module of its own and is compiled
// against this repository's sources: `hangup` resolves to the adapter of the block's runtime.
// So is every ```ts example of the TSDoc in src/ and adapters/ (what an editor shows on hover):
// its runtime is its adapter's (Node's for the core), the public names and its own file's names
// it uses without importing them are imported for it, and the free names an example assumes (`conn`,
// `socket`, `sink`, ...) are declared in scripts/tsdoc-context/.
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

/** Source files whose TSDoc examples are checked: all of them, unless Markdown files were named. */
function sourceFiles() {
  if (process.argv.length > 2) return [];
  const inDir = (dir) => readdirSync(abs(dir)).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).map((f) => `${dir}/${f}`);
  return [...inDir("src"), ...inDir("adapters")].sort();
}

/** Every exported name of the repository's sources, with the file that declares it and whether it is a type. */
function exportedNames(files) {
  const names = new Map();
  for (const file of files) {
    for (
      const m of readFileSync(abs(file), "utf8").matchAll(
        /^export (?:declare )?(?:async )?(function\*?|const|let|class|abstract class|type|interface|enum) (\w+)/gm,
      )
    ) {
      if (!names.has(m[2])) names.set(m[2], { file, type: m[1] === "type" || m[1] === "interface" });
    }
  }
  return names;
}

const TSDOC_RUNTIMES = { "adapters/bun.ts": "bun", "adapters/deno.ts": "deno", "adapters/workerd.ts": "workerd" };

/**
 * The names an entry point exports (its own declarations, `export { … } from` and `export * from`,
 * followed), each with that entry as the file to import it from, as a user would.
 */
function entryNames(entry, file = entry, names = new Map()) {
  const text = readFileSync(abs(file), "utf8");
  for (const [name, { type }] of exportedNames([file])) if (!names.has(name)) names.set(name, { file: entry, type });
  for (const m of text.matchAll(/^export (type )?\{([^}]*)\} from "([^"]+)";/gm)) {
    for (const item of m[2].split(",").map((i) => i.trim()).filter(Boolean)) {
      const name = item.replace(/^type\s+/, "").split(/\s+as\s+/).pop();
      if (!names.has(name)) names.set(name, { file: entry, type: m[1] !== undefined || item.startsWith("type ") });
    }
  }
  for (const m of text.matchAll(/^export \* from "([^"]+)";/gm)) {
    entryNames(entry, join(dirname(file), m[1]).replace(`${root}/`, ""), names);
  }
  return names;
}

/** Per runtime, the names its examples may take without importing them: hangup/core's and its adapter's. */
const exportedFor = {};

/** The ```ts examples of one source file's TSDoc, each with the imports it leaves out. */
function tsdocBlocksOf(file) {
  const lines = readFileSync(abs(file), "utf8").split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\* ```ts\s*$/.test(lines[i])) continue;
    let end = i + 1;
    while (end < lines.length && !/^\s*\* ```\s*$/.test(lines[end])) end++;
    if (end === lines.length) throw new Error(`${file}:${i + 1}: unclosed code block`);
    const code = lines.slice(i + 1, end).map((line) => line.replace(/^\s*\* ?/, "")).join("\n");
    const runtime = /"hangup\/deno"/.test(code)
      ? "deno"
      : /"hangup\/bun"/.test(code)
      ? "bun"
      : /"hangup\/workerd"|"cloudflare:sockets"/.test(code)
      ? "workerd"
      : TSDOC_RUNTIMES[file] ?? "node";
    exportedFor[runtime] ??= new Map([...entryNames(`adapters/${runtime}.ts`), ...entryNames("src/index.ts")]);
    blocks.push({ file, line: i + 2, code, directive: { runtime }, preamble: missingImports(code, file, exportedFor[runtime]) });
    i = end;
  }
  return blocks;
}

/** Imports for the names `code` uses without importing or declaring them: its own file's, then the public ones. */
function missingImports(code, file, exported) {
  const imported = new Set(
    [...code.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}/g)].flatMap((m) =>
      m[1].split(",").map((n) => n.trim().split(/\s+as\s+/).pop().replace(/^type\s+/, ""))
    ),
  );
  const declared = new Set([...code.matchAll(/(?:const|let|var|function\*?|class|type|interface)\s+(\w+)/g)].map((m) => m[1]));
  const bare = code.replace(/"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`|\/\/.*$/gm, "");
  const own = exportedNames([file]);
  const byFile = new Map();
  for (const name of new Set(bare.match(/\b[A-Za-z_]\w*\b/g) ?? [])) {
    if (imported.has(name) || declared.has(name)) continue;
    const from = own.get(name) ?? exported.get(name);
    if (!from) continue;
    byFile.set(from.file, [...(byFile.get(from.file) ?? []), from.type ? `type ${name}` : name]);
  }
  return [...byFile].map(([from, names]) => `import { ${names.sort().join(", ")} } from "${abs(from)}";`).join("\n");
}

const files = markdownFiles();
const sources = sourceFiles();
const blocks = [...files.flatMap(blocksOf), ...sources.flatMap(tsdocBlocksOf)];
rmSync(out, { recursive: true, force: true });
const byRuntime = new Map(); // "node", or "node tsdoc" for TSDoc examples (their own free names)
const sourceOf = new Map(); // generated file -> { block, offset }
for (const [index, block] of blocks.entries()) {
  const runtime = block.directive.runtime ?? "node";
  const group = block.preamble === undefined ? runtime : `${runtime} tsdoc`;
  if (!RUNTIMES[runtime]) throw new Error(`${block.file}:${block.line}: unknown runtime ${runtime}`);
  const contexts = (block.directive.context ?? "").split(",").filter(Boolean);
  for (const c of contexts) if (!CONTEXTS[c]) throw new Error(`${block.file}:${block.line}: unknown context ${c}`);
  const preamble = [...contexts.map((c) => CONTEXTS[c]), ...(block.preamble ? [block.preamble] : [])].join("\n");
  const offset = preamble === "" ? 0 : preamble.split("\n").length;
  const dir = join(out, group.replace(" ", "-"));
  mkdirSync(dir, { recursive: true });
  const name = `${block.file.replace(/\W/g, "_")}_${String(index).padStart(3, "0")}.ts`;
  // `export {}` makes every block a module: top-level await works and names do not collide.
  writeFileSync(join(dir, name), `${preamble}${preamble ? "\n" : ""}${block.code}\nexport {};\n`);
  sourceOf.set(name, { block, offset });
  byRuntime.set(group, [...(byRuntime.get(group) ?? []), name]);
}

/** The free names TSDoc examples assume, as global declarations: shared, and each runtime's. */
const tsdocContext = (runtime) => [abs("scripts/tsdoc-context/shared.d.ts"), abs(`scripts/tsdoc-context/${runtime}.d.ts`)];

function tscConfig(group, names) {
  const [runtime, tsdoc] = group.split(" ");
  const { tsconfig, adapter, extra = [] } = RUNTIMES[runtime];
  const dir = join(out, group.replace(" ", "-"));
  const config = {
    extends: abs(tsconfig),
    compilerOptions: {
      // A snippet is an example, not a published declaration.
      isolatedDeclarations: false,
      declaration: false,
      paths: { hangup: [abs(adapter)], [`hangup/${runtime}`]: [abs(adapter)], "hangup/core": [abs("src/index.ts")] },
      // Node's examples without the browser's globals (`name`, `status`, `close()`), which would
      // stand in for a name an example forgot to make (Bun's and workerd's types need them).
      ...(tsdoc && runtime === "node" ? { lib: ["ES2023", "ESNext.Disposable"] } : {}),
    },
    include: [],
    files: [...names, ...extra.map(abs), ...(tsdoc ? tsdocContext(runtime) : [])],
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config, null, 2));
  return [join(root, "node_modules", ".bin", "tsc"), ["-p", join(dir, "tsconfig.json"), "--pretty", "false"]];
}

function denoCheck(group, names) {
  const dir = join(out, group.replace(" ", "-"));
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
    ...(group.endsWith(" tsdoc") ? tsdocContext("deno") : []),
  ];
  return [join(root, "node_modules", ".bin", "deno"), args];
}

/** Rewrites `.cache/doc-snippets/<runtime>/<name>.ts(12,5)` (or a Deno location) to the Markdown line. */
function mapLocations(text) {
  // deno-lint-ignore no-control-regex -- terminal colour codes begin with ESC
  const strip = text.replace(/\x1b\[[0-9;]*m/g, "");
  return strip.replace(
    /(?:file:\/\/)?(?:[^\s(]*doc-snippets\/[\w-]+\/)?(\w+_\d{3}\.ts)(?:\((\d+),(\d+)\)|:(\d+):(\d+))/g,
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
  const [cmd, args] = runtime.startsWith("deno") ? denoCheck(runtime, names) : tscConfig(runtime, names);
  const child = spawnSync(cmd, args, { cwd: join(out, runtime.replace(" ", "-")), encoding: "utf8" });
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
console.log(`${files.length} Markdown files and ${sources.length} sources, ${blocks.length} snippets`);
console.log(`${blocks.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && blocks.length > 0 ? 0 : 1);
