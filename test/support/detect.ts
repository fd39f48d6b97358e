/** Which runtime runs this code; no test runner is loaded (scripts such as the soak use it). */
export type Runtime = "node" | "deno" | "bun";

export const runtime: Runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
