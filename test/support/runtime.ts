/**
 * The adapter under test: the one for the runtime running the suite. The suite
 * imports only this, so it runs unchanged on Node, Deno and Bun.
 */
import type * as NodeAdapter from "../../adapters/node.ts";
import type { Capabilities } from "../../src/index.ts";
import { runtime } from "./detect.ts";

/** What the suite uses of each adapter; `wrap` takes that runtime's own socket type. */
export type Adapter = Pick<typeof NodeAdapter, "connect" | "listen" | "serve" | "capabilities"> & {
  wrap: (native: unknown, options?: import("../../src/index.ts").ConnOptions) => import("../../src/index.ts").Conn;
};

const modules: Record<typeof runtime, string> = {
  node: "../../adapters/node.ts",
  deno: "../../adapters/deno.ts",
  bun: "../../adapters/bun.ts",
};

export const hangup = (await import(modules[runtime])) as Adapter;
export { runtime };

/** What the adapter under test says its runtime can do: the suite's skips and fallbacks are keyed on it. */
export const capabilities: Readonly<Capabilities> = hangup.capabilities;
