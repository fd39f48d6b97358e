import { defineConfig } from "tsup";

// One ESM build with code splitting: the core lives in one shared chunk, so every
// entry point hands out the same error classes.
export default defineConfig({
  entry: {
    node: "adapters/node.ts",
    deno: "adapters/deno.ts",
    bun: "adapters/bun.ts",
    core: "src/index.ts",
  },
  format: ["esm"],
  splitting: true,
  dts: false,
  clean: true,
  target: "es2022",
  platform: "neutral",
  external: ["node:net", "bun"],
});
