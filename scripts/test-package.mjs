#!/usr/bin/env node
// The package as users get it: build, lint it (publint, arethetypeswrong), `npm pack` it,
// install the tarball into a temporary project, and load "hangup" by name from Node (ESM
// and require), Deno and Bun: each must get its own adapter and a working round trip.
// Then type-check a consumer per runtime against the installed declarations
// (test/exports/consumer): plain tsc for Node, `deno check`, and tsc with customConditions
// "bun" and "workerd" must each see their own adapter, with no casts.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
// Every profile, node10 included (TypeScript's default for "module": "commonjs"): typesVersions maps its subpaths.
// Built just above: the packs below skip `prepack`'s build (npm_config_ignore_scripts).
const noPrepack = { ...quiet, env: { ...process.env, npm_config_ignore_scripts: "true" } };
check("arethetypeswrong", () => (execFileSync(bin("attw"), ["--pack", "."], noPrepack), "ok"));

const project = mkdtempSync(join(tmpdir(), "hangup-package-"));
try {
  execFileSync("npm", ["pack", "--pack-destination", project], noPrepack);
  const tarball = readdirSync(project).find((f) => f.endsWith(".tgz"));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", join(project, tarball)], { ...quiet, cwd: project });
  const packed = readdirSync(join(project, "node_modules", "hangup")).sort().join(" ");
  check("tarball contents", () => (packed === "LICENSE README.md dist package.json" ? "ok" : `unexpected files: ${packed}`));
  check("published package.json", () => {
    const manifest = JSON.parse(readFileSync(join(project, "node_modules", "hangup", "package.json"), "utf8"));
    // Install scripts run (or warn, npm 11) on every install of hangup; its own tooling must not ride along.
    const installScripts = ["preinstall", "install", "postinstall", "prepare"].filter((name) => manifest.scripts?.[name]);
    if (installScripts.length > 0) return `install scripts published: ${installScripts.join(", ")}`;
    const missing = ["repository", "homepage", "keywords"].filter((field) => !manifest[field]);
    return missing.length === 0 ? "ok" : `missing: ${missing.join(", ")}`;
  });
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
      const ok = r.runtime === expected && r.sameResetClass && r.crossInstanceof && r.className === "ConnectionResetError" &&
        r.misnamed?.length === 0 &&
        r.hasAdapter && r.roundTrip === "ping" &&
        (r.requireThrownInstanceof ?? true);
      return ok ? "ok" : `wrong: ${out}`;
    });
  }
  check('workerd condition "hangup"', () => {
    // A Workers bundler (wrangler uses esbuild) resolves "hangup" with the "workerd" condition.
    writeFileSync(
      join(project, "worker.mjs"),
      'import { runtime, connect } from "hangup";\nexport default { fetch: () => new Response(runtime + typeof connect) };\n',
    );
    const bundle = execFileSync(bin("esbuild"), [
      "worker.mjs",
      "--bundle",
      "--format=esm",
      "--platform=neutral",
      "--conditions=workerd",
      "--external:cloudflare:sockets",
    ], { cwd: project, encoding: "utf8" });
    return bundle.includes('from "cloudflare:sockets"') && bundle.includes('"workerd"') ? "ok" : "the bundle did not pick adapters/workerd";
  });
  typeCheckConsumers(project);
} finally {
  rmSync(project, { recursive: true, force: true });
}
/** Each runtime's consumer, type-checked against the installed tarball's declarations. */
function typeCheckConsumers(project) {
  const consumer = join(project, "consumer");
  mkdirSync(consumer);
  for (const runtime of ["node", "deno", "bun", "workerd"]) {
    copyFileSync(join(root, "test", "exports", "consumer", `${runtime}.ts`), join(consumer, `${runtime}.ts`));
  }
  const typeRoots = [join(root, "node_modules", "@types"), join(root, "node_modules")];
  const tsconfig = (file, extra) => ({
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      // The strictest settings a user may have: hangup's declarations must hold under them.
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noPropertyAccessFromIndexSignature: true,
      noEmit: true,
      // hangup's own declarations are checked too; only the runtimes' typings are taken as they are.
      skipLibCheck: false,
      typeRoots,
      ...extra,
    },
    files: [`consumer/${file}`],
  });
  const configs = {
    "tsc (node)": tsconfig("node.ts", { types: ["node"], lib: ["ES2023", "ESNext.Disposable"] }),
    // bun-types 1.4.5 does not check cleanly against @types/node 20 by itself, so its libraries are
    // skipped here; a wrong resolution still fails (the consumer uses Bun's Socket and the Bun-only `SocketOwner`).
    "tsc (customConditions bun)": tsconfig("bun.ts", {
      customConditions: ["bun"],
      types: ["bun-types"],
      lib: ["ES2023", "ESNext.Disposable", "DOM"],
      skipLibCheck: true,
    }),
    "tsc (customConditions workerd)": tsconfig("workerd.ts", {
      customConditions: ["workerd"],
      types: [],
      lib: ["ES2023", "ESNext.Disposable", "DOM"],
    }),
  };
  for (const [name, config] of Object.entries(configs)) {
    const file = join(project, `tsconfig.${name.replace(/\W+/g, "-")}.json`);
    writeFileSync(file, JSON.stringify(config, null, 2));
    check(
      `types: ${name}`,
      () => (execFileSync(bin("tsc"), ["-p", file], { cwd: project, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), "ok"),
    );
  }
  // A Deno project that keeps node_modules (nodeModulesDir "manual") type-checks `node:` imports
  // with the @types/node it has installed, like any such project: the Deno declarations name
  // node:tls's TLSSocket, the native of a TLS connection.
  symlinkSync(join(root, "node_modules", "@types"), join(project, "node_modules", "@types"), "dir");
  check("types: deno check", () => (
    execFileSync(bin("deno"), ["check", "--node-modules-dir=manual", "consumer/deno.ts"], {
      cwd: project,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    }), "ok"
  ));
}

console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
