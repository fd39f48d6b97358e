// The skipped cases in the test runners' machine-readable reports, by name: vitest's JSON
// (--reporter=json --outputFile.json=...), and the JUnit XML of deno (--junit-path=...) and bun
// (--reporter=junit --reporter-outfile=...). Used by scripts/test-all.mjs for its summary.
import { existsSync, readFileSync } from "node:fs";

/** The names of the skipped cases in vitest's JSON report, or undefined if there is none. */
export function vitestSkips(file) {
  if (!existsSync(file)) return undefined;
  const report = JSON.parse(readFileSync(file, "utf8"));
  return report.testResults.flatMap((suite) =>
    suite.assertionResults.filter((t) => t.status === "skipped" || t.status === "pending" || t.status === "todo").map((t) => t.fullName)
  );
}

const unescapeXml = (text) =>
  text.replace(
    /&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-f]+));/gi,
    (_, named, dec, hex) =>
      dec
        ? String.fromCodePoint(Number(dec))
        : hex
        ? String.fromCodePoint(parseInt(hex, 16))
        : { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" }[named],
  );

/** The names of the skipped cases in a JUnit report (Deno's, Bun's), or undefined if there is none. */
export function junitSkips(file) {
  if (!existsSync(file)) return undefined;
  const xml = readFileSync(file, "utf8");
  const names = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    if (m[3] !== undefined && /<skipped\b/.test(m[3])) names.push(unescapeXml(/\bname="([^"]*)"/.exec(m[1])?.[1] ?? "?"));
  }
  return names;
}
