#!/usr/bin/env node
// Runs every example with --check, and the demo, on Node (tsx), Deno and Bun. The examples
// import "hangup" by name: tsx and Bun resolve it through tsconfig "paths" to the runtime's
// adapter source (Bun through tsconfig.bun-run.json), Deno to the built package; the
// demo must finish by itself, exit 0 and show hangup's verdict for every scenario.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const runtimes = {
  node: (file, args) => [bin("tsx"), [file, ...args]],
  deno: (file, args) => [bin("deno"), ["run", "--allow-all", file, ...args]],
  // Bun resolves "hangup" through tsconfig.json's "paths" (the Node adapter): this one maps it to Bun's.
  bun: (file, args) => [bin("bun"), ["--tsconfig-override=tsconfig.bun-run.json", file, ...args]],
};

if (!existsSync(join(root, "dist", "node.js"))) {
  spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" });
}

/** What the demo's hangup column must say, row by row. */
const DEMO_VERDICTS = [
  /FIN after a request .*eof: loop ended/,
  /RST right after data .*ConnectionResetError \(ECONNRESET\)/,
  /RST while idle .*ConnectionResetError \(ECONNRESET\)/,
  /half-close, then wait .*eof: loop ended.*reply arrived$/m,
  /silence: the peer vanished .*IdleTimeoutError/,
  /an endless line .*LimitExceededError/,
  /slow drip .*request deadline/,
  /TLS: FIN without close_notify .*TlsTruncatedError/,
];

let passes = 0;
let failures = 0;
function run(name, runtime, file, args, verify = () => undefined) {
  const [cmd, argv] = runtimes[runtime](file, args);
  const started = Date.now();
  const child = spawnSync(cmd, argv, {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, npm_config_loglevel: "error" },
  });
  const output = (child.stdout ?? "") + (child.stderr ?? "");
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const problem = child.status !== 0 ? `exit ${child.status ?? child.signal}` : verify(output);
  if (problem) {
    failures++;
    console.log(`FAIL ${runtime.padEnd(5)} ${name} (${seconds} s): ${problem}\n${output}`);
  } else {
    passes++;
    console.log(`ok   ${runtime.padEnd(5)} ${name} (${seconds} s)`);
  }
}

const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".ts")).sort();
for (const runtime of Object.keys(runtimes)) {
  for (const example of examples) {
    // The sniffer hands a connection to the runtime's own HTTP server, which says whose it is:
    // proof that "hangup" is this runtime's adapter here.
    const verify = example === "sniffer.ts"
      ? (output) => output.includes(`hello from ${runtime}'s HTTP server`) ? undefined : `not ${runtime}'s adapter`
      : undefined;
    run(`examples/${example} --check`, runtime, join("examples", example), ["--check"], verify);
  }
  run("demo", runtime, join("demo", "demo.ts"), [], (output) => {
    const missing = DEMO_VERDICTS.filter((verdict) => !verdict.test(output));
    if (missing.length > 0) return `the demo did not show ${missing.map(String).join(", ")}`;
    if (runtime === "node") process.stdout.write(output);
    return undefined;
  });
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
