/** Each adapter's `capabilities` is frozen data, and the README's runtime table says the same. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { assertColumnMatches, type Column } from "../support/capabilities-table.ts";
import { describe, test } from "../support/harness.ts";
import { capabilities, runtime } from "../support/runtime.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

function column(): Column {
  if (runtime === "deno") return "Deno";
  if (runtime === "bun") return "Bun";
  const major = Number((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node?.split(".")[0]);
  return major < 24 ? "Node 20/22" : "Node 24+";
}

describe(`capabilities (${runtime})`, () => {
  test("the adapter's capabilities are frozen booleans", async () => {
    assert.ok(Object.isFrozen(capabilities));
    for (const [key, value] of Object.entries(capabilities)) assert.equal(typeof value, "boolean", key);
    assert.throws(() => {
      (capabilities as { reset: boolean }).reset = !capabilities.reset;
    }, TypeError);
  });

  test(`the README's capabilities table, column "${column()}", agrees with the adapter's export`, async () => {
    assertColumnMatches(readme, column(), capabilities);
  });
});
