import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    // Four files at once: the cases mostly wait on sockets and timers, not the CPU (with two at a
    // time a Node line kept about half of a 2-core machine busy: 114 s, and 72 s with four), and
    // every bound in the suite is generous enough for that (scripts/test-all.mjs, WORKERS).
    maxWorkers: 4,
    minWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 30_000,
    reporters: ["default"],
  },
});
