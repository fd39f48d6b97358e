// The skipped cases in the test runners' machine-readable reports, by name: vitest's JSON
// (--reporter=json --outputFile.json=...), and the JUnit XML of deno (--junit-path=...) and bun
// (--reporter=junit --reporter-outfile=...); and the failed ones, with their message on one
// line. Used by scripts/test-all.mjs for its summary, so that the tail of a log says which case
// failed.
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

/** A failure message on one line, without its stack, shortened for a summary line. */
const firstLine = (text) => {
  const message = (text ?? "").split("\n").filter((l) => !/^\s*at /.test(l)).join("\n");
  // deno-lint-ignore no-control-regex -- terminal colour codes begin with ESC
  const line = message.replace(/\x1b\[[0-9;]*m/g, "").replace(/\s+/g, " ").trim();
  return line.length > 240 ? `${line.slice(0, 237)}...` : line;
};

/** The failed cases in vitest's JSON report, as "name: message". */
export function vitestFailures(file) {
  if (!existsSync(file)) return undefined;
  const report = JSON.parse(readFileSync(file, "utf8"));
  return report.testResults.flatMap((suite) => {
    const cases = suite.assertionResults.filter((t) => t.status === "failed")
      .map((t) => `${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
    // A file that failed to load has no cases, only a message.
    return cases.length === 0 && suite.status === "failed" ? [`${suite.name}: ${firstLine(suite.message)}`] : cases;
  });
}

/** The failed cases in a JUnit report (Deno's, Bun's), as "name: message". */
export function junitFailures(file) {
  if (!existsSync(file)) return undefined;
  const xml = readFileSync(file, "utf8");
  const names = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const failure = m[3] === undefined ? null : /<(failure|error)\b([^>]*?)(\/>|>([\s\S]*?)<\/\1>)/.exec(m[3]);
    if (!failure) continue;
    const name = unescapeXml(/\bname="([^"]*)"/.exec(m[1])?.[1] ?? "?");
    const file = /\b(?:file|classname)="([^"]+)"/.exec(m[1])?.[1];
    const message = /\bmessage="([^"]*)"/.exec(failure[2])?.[1] ?? failure[4] ?? "";
    names.push(`${file ? `${unescapeXml(file)} > ` : ""}${name}: ${firstLine(unescapeXml(message))}`);
  }
  return names;
}
