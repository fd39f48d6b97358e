#!/usr/bin/env node
// Prints bench/results/latest.json as the README's markdown table.
import { readFileSync } from "node:fs";

const results = JSON.parse(readFileSync(new URL("./results/latest.json", import.meta.url), "utf8"));
const m = results.machine;
console.log(
  `${results.date.slice(0, 10)}, ${m.cpus} × ${m.model}, Linux ${m.kernel}; ${
    Object.entries(results.versions).map(([k, v]) => `${k} ${v.replace(/^deno |^v/, "").replace(/ \(.*/, "")}`).join(", ")
  }; best of ${results.repeat} runs (throughput: the median of 7 same-round ratios, TLS: of 3; close detection: every trial of ${results.repeat} runs pooled; memory: one run; growth: the best of 9 tries in one run)${
    results.note ? `. ${results.note[0].toUpperCase()}${results.note.slice(1)}` : ""
  }.\n`,
);
console.log("| runtime | case | hangup | baselines (same run) | ratio | target | met |");
console.log("|---|---|---|---|---|---|---|");
for (const r of results.rows) {
  console.log(`| ${r.runtime} | ${r.case} | ${r.hangup} | ${r.baselines} | ${r.ratio} | ${r.target} | ${r.ok ? "yes" : "**no**"} |`);
}
