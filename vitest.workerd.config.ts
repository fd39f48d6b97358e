import { defineConfig } from "vitest/config";

// The Workers adapter's suite: Node drives real workerd (see test/workerd/).
export default defineConfig({
  test: {
    include: ["test/workerd/*.workerd.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
