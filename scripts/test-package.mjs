#!/usr/bin/env node
// The package as users get it: build, lint it (publint, arethetypeswrong), `npm pack` it,
// install the tarball into a temporary project, and load "hangup" by name from Node (ESM
// and require), Deno and Bun: each must get its own adapter and a working round trip.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const quiet = { cwd: root, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } };

let failures = 0;
let passes = 0;
function check(name, run) {
  let verdict;
  try {
    verdict = run();
  } catch (err) {
    verdict = `failed: ${(err.stdout ?? "") + (err.stderr ?? "") || err.message}`;
  }
  if (verdict === "ok") passes++;
  else failures++;
  console.log(`${name.padEnd(24)} ${verdict}`);
}

execFileSync(process.execPath, ["scripts/build.mjs"], { ...quiet, stdio: "inherit" });
check("publint", () => (execFileSync(bin("publint"), ["--strict"], quiet), "ok"));
check("arethetypeswrong", () => (execFileSync(bin("attw"), ["--pack", ".", "--profile", "node16"], quiet), "ok"));

const project = mkdtempSync(join(tmpdir(), "hangup-package-"));
try {
  execFileSync("npm", ["pack", "--pack-destination", project], quiet);
  const tarball = readdirSync(project).find((f) => f.endsWith(".tgz"));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", join(project, tarball)], { ...quiet, cwd: project });
  const packed = readdirSync(join(project, "node_modules", "hangup")).sort().join(" ");
  check("tarball contents", () => (packed === "LICENSE README.md dist package.json" ? "ok" : `unexpected files: ${packed}`));
  copyFileSync(join(root, "test", "exports", "probe.mjs"), join(project, "probe.mjs"));
  copyFileSync(join(root, "test", "exports", "probe.cjs"), join(project, "probe.cjs"));
  const probes = {
    "node (import)": ["node", process.execPath, ["probe.mjs"]],
    "node (require)": ["node", process.execPath, ["probe.cjs"]],
    "deno (import)": ["deno", bin("deno"), ["run", "--allow-all", "--node-modules-dir=manual", "probe.mjs"]],
    "bun (import)": ["bun", bin("bun"), ["probe.mjs"]],
    "bun (require)": ["bun", bin("bun"), ["probe.cjs"]],
  };
  for (const [name, [runtime, cmd, args]] of Object.entries(probes)) {
    check(`${name} "hangup"`, () => {
      const out = execFileSync(cmd, args, { cwd: project, encoding: "utf8", timeout: 60_000 }).trim().split("\n").pop();
      const r = JSON.parse(out);
      const expected = name.includes("require") && runtime === "bun" ? "bun" : runtime;
      const ok = r.runtime === expected && r.sameResetClass && r.crossInstanceof && r.hasAdapter && r.roundTrip === "ping";
      return ok ? "ok" : `wrong: ${out}`;
    });
  }
  check('workerd condition "hangup"', () => {
    // A Workers bundler (wrangler uses esbuild) resolves "hangup" with the "workerd" condition.
    writeFileSync(join(project, "worker.mjs"), 'import { runtime, connect } from "hangup";\nexport default { fetch: () => new Response(runtime + typeof connect) };\n');
    const bundle = execFileSync(bin("esbuild"), ["worker.mjs", "--bundle", "--format=esm", "--platform=neutral", "--conditions=workerd", "--external:cloudflare:sockets"], { cwd: project, encoding: "utf8" });
    return bundle.includes('from "cloudflare:sockets"') && bundle.includes('"workerd"') ? "ok" : "the bundle did not pick adapters/workerd";
  });
} finally {
  rmSync(project, { recursive: true, force: true });
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
