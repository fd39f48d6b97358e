import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    // Two files at once: the cases mostly wait on sockets and timers, not the CPU, so the suite
    // takes about half the time on a 2-core machine (100 s → 55 s a Node line), and every bound
    // in it is generous enough for that (tried on Node 20, 22 and 26).
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 30_000,
    reporters: ["default"],
  },
});
