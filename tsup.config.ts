import { defineConfig, type Options } from "tsup";

// ESM and CJS for every entry. Code splitting puts the core in one
// shared chunk per format, so every entry point of a format hands out the same error
// classes (and `instanceof` checks a global brand, so ESM and CJS copies agree too).
// Declarations are built per runtime, each against that runtime's own types.
const shared: Options = {
  splitting: true,
  target: "es2022",
  platform: "neutral",
  external: ["node:fs", "node:net", "node:path", "node:process", "node:stream", "node:tls", "bun", "cloudflare:sockets"],
  outDir: "dist",
  // The CJS build's transform renames classes (`_class2`): kept, `ConnectionResetError.name` and
  // a printed error say the class.
  keepNames: true,
};

const declarations = (entry: Record<string, string>, tsconfig: string, format: Options["format"]): Options => ({
  ...shared,
  entry: { ...entry, core: "src/index.ts" },
  format,
  tsconfig,
  dts: { only: true },
});

const entry = {
  node: "adapters/node.ts",
  deno: "adapters/deno.ts",
  bun: "adapters/bun.ts",
  workerd: "adapters/workerd.ts",
  core: "src/index.ts",
};

export default defineConfig([
  {
    ...shared,
    entry,
    format: ["esm"],
  },
  {
    ...shared,
    entry,
    format: ["cjs"],
  },
  declarations({ node: "adapters/node.ts" }, "tsconfig.json", ["esm", "cjs"]),
  declarations({ deno: "adapters/deno.ts" }, "tsconfig.deno.json", ["esm", "cjs"]),
  declarations({ bun: "adapters/bun.ts" }, "tsconfig.bun.json", ["esm", "cjs"]),
  declarations({ workerd: "adapters/workerd.ts" }, "tsconfig.workerd.json", ["esm", "cjs"]),
]);
