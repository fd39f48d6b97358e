/**
 * The exported names of every entry, pinned: `hangup` and `hangup/<runtime>` give the user
 * API only, `hangup/core` adds the adapter contract and its helpers. A name that leaks into
 * an entry (or goes missing) is a failing diff here. Types are listed by TypeScript's own
 * view of each entry; values are also checked on the module the running runtime loads.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, runtime, test } from "../support/harness.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** What every entry exports: the user API. */
const USER_API = [
  "AddressInUseError",
  "BrokenPipeError",
  "ConnectionAbortedError",
  "ConnectionRefusedError",
  "ConnectionResetError",
  "IdleTimeoutError",
  "LimitExceededError",
  "SocketClosedError",
  "SocketError",
  "TimedOutError",
  "TlsHandshakeError",
  "TlsTruncatedError",
  "UnexpectedEofError",
  "WriteTimeoutError",
  "fromStreams",
  "serve",
  "toSocketError",
  "type Addr",
  "type Capabilities",
  "type Conn",
  "type ConnOptions",
  "type ConnectOptions",
  "type DecodeFunction",
  "type DecodeResult",
  "type Decoder",
  "type EndInfo",
  "type EndReason",
  "type ListenOptions",
  "type Listener",
  "type OperationOptions",
  "type PeekOptions",
  "type Runtime",
  "type ScanOptions",
  "type ServeOptions",
  "type ServerTlsOptions",
  "type SocketErrorOptions",
  "type SocketOperation",
  "type StreamNative",
  "type StreamPair",
  "type TcpAddr",
  "type TcpListenOptions",
  "type TlsHandshakeErrorOptions",
  "type TlsInfo",
  "type TlsOptions",
  "type UnixAddr",
  "type UnixListenOptions",
];

/** For adapter authors, from `hangup/core` only. */
const ADAPTER_CONTRACT = [
  "checkConnectOptions",
  "checkListenOptions",
  "connOptionsOf",
  "createConn",
  "createListener",
  "resolveConnOptions",
  "tcpAddr",
  "withDeadline",
  "claim",
  "isClaimed",
  "release",
  "defineCapabilities",
  "connectWith",
  "flushBeforeUpgrade",
  "listenWith",
  "locateFailure",
  "PullSource",
  "checkTlsOptions",
  "DEFAULT_HANDSHAKE_TIMEOUT",
  "TlsSource",
  "type ConnSink",
  "type ConnSource",
  "type ConnectSteps",
  "type ListenSteps",
  "type PullTransport",
  "type TlsHooks",
  "type DeadlineOptions",
  "type Endpoint",
  "type ListenerSink",
  "type ListenerSource",
  "type ResolvedConnOptions",
  "type ResolvedTlsOptions",
  "type TlsEngine",
  "type TlsEvents",
  "type TlsWire",
];

const ENTRIES: Record<string, { file: string; names: string[] }> = {
  node: {
    file: "adapters/node.ts",
    names: [...USER_API, "connect", "listen", "wrap", "startTls", "runtime", "capabilities", "type StartTlsOptions"],
  },
  deno: {
    file: "adapters/deno.ts",
    names: [...USER_API, "connect", "listen", "wrap", "startTls", "runtime", "capabilities", "type StartTlsOptions"],
  },
  bun: {
    file: "adapters/bun.ts",
    names: [...USER_API, "connect", "listen", "wrap", "startTls", "runtime", "capabilities", "type StartTlsOptions", "type SocketOwner"],
  },
  workerd: {
    file: "adapters/workerd.ts",
    names: [
      ...USER_API,
      "connect",
      "startTls",
      "runtime",
      "capabilities",
      "type StartTlsOptions",
      "type WorkersConnectOptions",
      "type WorkersTlsOptions",
    ],
  },
  core: { file: "src/index.ts", names: [...USER_API, ...ADAPTER_CONTRACT] },
};

const sorted = (names: Iterable<string>): string[] => [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Every exported name of each entry as TypeScript sees it, types marked `type `. */
function exportedNames(): Record<string, string[]> {
  const files = Object.values(ENTRIES).map((e) => join(root, e.file));
  const program = ts.createProgram(files, {
    allowImportingTsExtensions: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const result: Record<string, string[]> = {};
  for (const [entry, { file }] of Object.entries(ENTRIES)) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(join(root, file))!)!;
    result[entry] = sorted(
      checker.getExportsOfModule(module).map((symbol) => {
        const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        return (target.flags & ts.SymbolFlags.Value ? "" : "type ") + symbol.name;
      }),
    );
  }
  return result;
}

describe("entry points", () => {
  test("each entry exports exactly its pinned names, values and types (no adapter plumbing outside hangup/core)", async () => {
    const actual = exportedNames();
    for (const [entry, { names }] of Object.entries(ENTRIES)) assert.deepEqual(actual[entry], sorted(names), `exports of ${entry}`);
  }, { timeout: 60_000 });

  test(`the modules ${runtime} loads export exactly the pinned values`, async () => {
    const values = (entry: string): string[] => sorted(ENTRIES[entry]!.names.filter((n) => !n.startsWith("type ")));
    const own: Record<typeof runtime, string> = {
      node: "../../adapters/node.ts",
      deno: "../../adapters/deno.ts",
      bun: "../../adapters/bun.ts",
    };
    const adapter = (await import(own[runtime])) as Record<string, unknown>;
    assert.deepEqual(sorted(Object.keys(adapter)), values(runtime));
    assert.ok(["node", "deno", "bun", "workerd"].includes(adapter.runtime as string));
    const core = (await import("../../src/index.ts")) as Record<string, unknown>;
    assert.deepEqual(sorted(Object.keys(core)), values("core"));
  });
});
