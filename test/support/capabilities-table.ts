/**
 * The README's capabilities table (between `<!-- capabilities` and `<!-- /capabilities -->`),
 * read back as data so that the suite can hold it against each adapter's `capabilities`.
 */
import assert from "node:assert/strict";
import type { Capabilities } from "../../src/index.ts";

/** The README's column headings, one per runtime configuration. */
export type Column = "Node 20/22" | "Node 24+" | "Deno" | "Bun" | "Workers";

/** Column -> capability -> yes/no, as the README states it. */
export function parseCapabilitiesTable(readme: string): Map<string, Map<string, boolean>> {
  const start = readme.indexOf("<!-- capabilities");
  const end = readme.indexOf("<!-- /capabilities -->");
  assert.ok(start >= 0 && end > start, "README has no <!-- capabilities --> table");
  const rows = readme.slice(start, end).split("\n").filter((line) => line.startsWith("|"));
  const cells = (line: string): string[] => line.slice(1, -1).split("|").map((cell) => cell.trim());
  const headings = cells(rows[0]!);
  const table = new Map<string, Map<string, boolean>>();
  for (const heading of headings.slice(2)) table.set(heading, new Map());
  for (const row of rows.slice(2)) {
    const [key, , ...values] = cells(row);
    const name = key!.replace(/`/g, "");
    values.forEach((value, i) => {
      assert.ok(value === "yes" || value === "no", `README capabilities table: ${name} / ${headings[i + 2]} is "${value}", not yes or no`);
      table.get(headings[i + 2]!)!.set(name, value === "yes");
    });
  }
  return table;
}

/** Asserts that the README's `column` says exactly what `capabilities` says, key for key. */
export function assertColumnMatches(readme: string, column: Column, capabilities: Capabilities): void {
  const stated = parseCapabilitiesTable(readme).get(column);
  assert.ok(stated, `README capabilities table has no column "${column}"`);
  const actual = Object.fromEntries(Object.entries(capabilities).map(([key, value]) => [key, value ? "yes" : "no"]));
  const inReadme = Object.fromEntries([...stated].map(([key, value]) => [key, value ? "yes" : "no"]));
  assert.deepEqual(
    inReadme,
    actual,
    `README capabilities table, column "${column}", must read (the adapter's export):\n${JSON.stringify(actual, null, 2)}`,
  );
}
