/**
 * The fault storm, shared by the storm test and `npm run soak`: `count` connections
 * against `serve`, each scripted at random by the peer, checked against the peer's truth.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { type Conn, type EndReason, SocketError } from "../../src/index.ts";
import { concat, sleep } from "./fixtures.ts";
import type { Peer } from "./peer.ts";
import { hangup } from "./runtime.ts";

interface Seen {
  reason: EndReason;
  error?: string | undefined;
  received: Uint8Array[];
  outcome: "eof" | "error" | "limit";
  writes?: Writes;
}

/** What the server's writes to a write-class client did. */
interface Writes {
  resolved: number;
  resolvedBytes: number;
  /** The size of the write that was pending when one failed, else 0. */
  pendingBytes: number;
  /** The failure's class name; "untyped: ..." for anything that is not a SocketError. */
  failure?: string;
}

/** The write classes' payload: deterministic bytes, so the peer's share can be checked as a prefix. */
const PATTERN = (() => {
  const bytes = new Uint8Array(8 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
})();
const WRITE_CHUNK = 256 * 1024;
/** The serve `writeTimeout` of the storm: a "never reads" client ends with it. */
export const STORM_WRITE_TIMEOUT = 1000;

interface Truth {
  host: string;
  port: number;
  scenario: string;
  sent?: number;
  sha256?: string;
  data?: string;
  reply?: string;
  peer_end?: string;
  peer_error?: string;
  received?: number;
  received_sha256?: string;
}

export function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * Whether this machine still has a descriptor open on the TCP connection from `localPort` to
 * `remotePort` (Linux: /proc/net/tcp*). A socket whose descriptor was closed may live on in the
 * kernel (FIN_WAIT, TIME_WAIT), with inode 0 there.
 */
export function holdsTcpSocket(localPort: number, remotePort: number): boolean {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, "0");
  const local = `:${hex(localPort)}`;
  const remote = `:${hex(remotePort)}`;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[1]!.endsWith(local) && fields[2]!.endsWith(remote) && fields[9] !== "0") return true;
    }
  }
  return false;
}

/**
 * Timers pending now. Node and Deno list them in `process.getActiveResourcesInfo()`; Bun's lists
 * none, so there the first call starts counting the timers made from then on (fired or cleared
 * ones leave the count): a baseline taken first, then a count after the storm, compare the two.
 */
export function activeTimers(): number {
  if (trackedTimers) return trackedTimers.size;
  const listed = listedTimers();
  if (listed !== undefined && listsTimers()) return listed;
  trackedTimers = trackTimers();
  return trackedTimers.size;
}

let trackedTimers: Set<unknown> | undefined;

function listedTimers(): number | undefined {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.();
  return info?.filter((kind) => kind === "Timeout").length;
}

function listsTimers(): boolean {
  const before = listedTimers() ?? 0;
  const probe = setTimeout(() => {}, 60_000);
  const during = listedTimers() ?? 0;
  clearTimeout(probe);
  return during > before;
}

function trackTimers(): Set<unknown> {
  const live = new Set<unknown>();
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  globalThis.setTimeout = ((handler: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
    const timer = realSetTimeout(
      (...given: unknown[]) => {
        live.delete(timer);
        handler(...given);
      },
      delay,
      ...args,
    );
    live.add(timer);
    return timer;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((timer: Parameters<typeof clearTimeout>[0]) => {
    live.delete(timer);
    realClearTimeout(timer);
  }) as typeof clearTimeout;
  return live;
}

function failureName(err: unknown): string {
  return err instanceof SocketError ? err.name : `untyped: ${String(err)}`;
}

/** "W": a client that never reads. Write 256 KiB pieces of PATTERN until one fails. */
async function writeToNeverReader(conn: Conn): Promise<Writes> {
  const writes: Writes = { resolved: 0, resolvedBytes: 0, pendingBytes: 0 };
  // Its trickle is read, so only the write side stalls.
  const reading = (async () => {
    try {
      for await (const _ of conn);
    } catch {
      // The reset that ends the writes ends this too.
    }
  })();
  try {
    for (let at = 0; at < PATTERN.length; at += WRITE_CHUNK) {
      const piece = PATTERN.subarray(at, at + WRITE_CHUNK);
      writes.pendingBytes = piece.length;
      await conn.write(piece);
      writes.resolved++;
      writes.resolvedBytes += piece.length;
      writes.pendingBytes = 0;
    }
  } catch (err) {
    writes.failure = failureName(err);
  }
  await reading;
  return writes;
}

/** "T": a client that resets while a write of all of PATTERN is pending. */
async function writeUntilTeardown(conn: Conn): Promise<Writes> {
  const writes: Writes = { resolved: 0, resolvedBytes: 0, pendingBytes: PATTERN.length };
  try {
    await conn.write(PATTERN);
    writes.resolved = 1;
    writes.resolvedBytes = PATTERN.length;
    writes.pendingBytes = 0;
  } catch (err) {
    writes.failure = failureName(err);
  }
  return writes;
}

async function handle(conn: Conn): Promise<Seen> {
  const received: Uint8Array[] = [];
  let outcome: Seen["outcome"] = "eof";
  const first = await conn.peek().catch(() => null);
  if (first?.[0] === 0x57 /* "W" */ || first?.[0] === 0x54 /* "T" */) {
    const writes = first[0] === 0x57 ? await writeToNeverReader(conn) : await writeUntilTeardown(conn);
    const info = await conn.ended;
    return { reason: info.reason, error: info.error?.name, received, outcome: writes.failure ? "error" : "eof", writes };
  }
  if (first?.[0] === 0x4c /* "L": a line protocol */) {
    try {
      for await (const line of conn.lines({ maxBytes: 1024 })) received.push(new TextEncoder().encode(line));
    } catch (err) {
      outcome = (err as Error).name === "LimitExceededError" ? "limit" : "error";
    }
    // A server refuses such a client: close now rather than wait for it to go.
    if (outcome === "limit") await conn.close();
  } else {
    try {
      for await (const chunk of conn) received.push(chunk);
      await conn.write("ok\n");
    } catch {
      outcome = "error";
    }
  }
  const info = await conn.ended;
  return { reason: info.reason, error: info.error?.name, received, outcome };
}

function verify(truth: Truth, seen: Seen | undefined): string | undefined {
  const where = `${truth.scenario} (${truth.host}:${truth.port})`;
  if (truth.scenario === "connrst") {
    // Reset before any byte: the runtime may surface it as a reset connection or not at all.
    if (seen && seen.reason !== "reset") return `${where}: expected reset, got ${seen.reason}`;
    return undefined;
  }
  if (!seen) return `${where}: the server never saw this connection`;
  const bytes = concat(seen.received);
  switch (truth.scenario) {
    case "fin":
    case "drip":
    case "halfclose": {
      if (seen.reason !== "eof" || seen.outcome !== "eof") {
        return `${where}: expected eof, got ${seen.reason}/${seen.outcome} ${seen.error ?? ""}`;
      }
      const sha = createHash("sha256").update(bytes).digest("hex");
      if (sha !== truth.sha256) return `${where}: received ${bytes.length} of ${truth.sent} bytes, checksum differs`;
      if (truth.reply !== "ok\n") {
        return `${where}: the peer did not get the reply after its FIN (got ${JSON.stringify(truth.reply)}, ${truth.peer_end})`;
      }
      return undefined;
    }
    case "rst": {
      if (seen.reason !== "reset" || seen.outcome !== "error") return `${where}: expected reset, got ${seen.reason}/${seen.outcome}`;
      const sent = new Uint8Array(Buffer.from(truth.data!, "base64"));
      const prefix = sent.subarray(0, bytes.length);
      if (
        bytes.length > sent.length || createHash("sha256").update(bytes).digest("hex") !== createHash("sha256").update(prefix).digest("hex")
      ) {
        return `${where}: the ${bytes.length} bytes received are not a prefix of the ${sent.length} sent`;
      }
      return undefined;
    }
    case "silence":
      return seen.reason === "idle" ? undefined : `${where}: expected idle, got ${seen.reason}`;
    case "longline":
      return seen.outcome === "limit" ? undefined : `${where}: expected LimitExceededError, got ${seen.outcome} (${seen.reason})`;
    case "neverread": {
      const w = seen.writes;
      if (!w) return `${where}: the server did not treat it as a write client`;
      if (w.failure !== "WriteTimeoutError") {
        return `${where}: expected the writes to end with WriteTimeoutError, got ${w.failure ?? `all ${w.resolved} resolved`}`;
      }
      // The peer cannot have received more than was accepted: every resolved write, and at most the pending one.
      const got = truth.received ?? -1;
      if (got < 0 || got > w.resolvedBytes + w.pendingBytes) {
        return `${where}: the peer received ${got} bytes, but only ${w.resolvedBytes} (+${w.pendingBytes} pending) were written`;
      }
      if (createHash("sha256").update(PATTERN.subarray(0, got)).digest("hex") !== truth.received_sha256) {
        return `${where}: the ${got} bytes the peer received are not what was written`;
      }
      return undefined;
    }
    case "teardown": {
      const w = seen.writes;
      if (!w) return `${where}: the server did not treat it as a write client`;
      if (w.resolved > 0) return `${where}: a ${PATTERN.length}-byte write to a peer that never read and then reset resolved`;
      return w.failure === "ConnectionResetError"
        ? undefined
        : `${where}: the pending write rejected with ${w.failure}, not ConnectionResetError`;
    }
    default:
      return `${where}: unknown scenario`;
  }
}

export interface StormResult {
  /** Connections scripted, the write classes included. */
  count: number;
  byScenario: Record<string, number>;
  problems: string[];
  handlerFailures: unknown[];
}

/** One storm: a fresh listener and `serve`, `count` scripted connections, everything closed after. */
export async function runStorm(
  peer: Peer,
  options: { count: number; concurrency: number; idle: number; classes?: { neverread?: number; teardown?: number } },
): Promise<StormResult> {
  const seen = new Map<string, Seen>();
  const anonymousSeen: Seen[] = [];
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0, idleTimeout: options.idle, backlog: 511 });
  const port = listener.addr.port;
  const stop = new AbortController();
  const handlerFailures: unknown[] = [];
  const serving = hangup.serve(listener, async (conn) => {
    const hostname = conn.remoteAddr.transport === "tcp" ? conn.remoteAddr.hostname : "";
    const outcome = await handle(conn);
    if (hostname === "") anonymousSeen.push(outcome);
    else seen.set(hostname, outcome);
  }, { signal: stop.signal, writeTimeout: STORM_WRITE_TIMEOUT, onError: (err) => void handlerFailures.push(err) });
  const { truths } = (await peer.command("storm", {
    port,
    count: options.count,
    concurrency: options.concurrency,
    seed: Date.now() % 100_000,
    idle_ms: options.idle,
    classes: options.classes ?? {},
  })) as unknown as { truths: Truth[] };
  await sleep(options.idle * 2);
  stop.abort();
  await serving;
  // Each peer connection has a source address of its own. One reset before it was accepted has
  // no peer address any more (getpeername fails): it may only stand for a peer that did reset.
  const problems: string[] = [];
  let unmatchedResets = 0;
  for (const truth of truths) {
    const match = seen.get(truth.host);
    if (match === undefined && (truth.scenario === "rst" || truth.scenario === "connrst" || truth.scenario === "teardown")) {
      unmatchedResets++;
      continue;
    }
    const problem = verify(truth, match);
    if (problem) problems.push(problem);
  }
  for (const s of anonymousSeen) {
    if (s.reason !== "reset") problems.push(`a connection without a peer address ended ${s.reason}, not reset`);
    if (s.writes && (s.writes.resolved > 0 || s.writes.failure !== "ConnectionResetError")) {
      problems.push(`a write to a connection reset before it was served: ${s.writes.resolved} resolved, failure ${s.writes.failure}`);
    }
  }
  if (anonymousSeen.length > unmatchedResets) {
    problems.push(`${anonymousSeen.length} connections without a peer address, but only ${unmatchedResets} resets unaccounted for`);
  }

  const byScenario: Record<string, number> = {};
  for (const t of truths) byScenario[t.scenario] = (byScenario[t.scenario] ?? 0) + 1;
  return { count: truths.length, byScenario, problems, handlerFailures };
}
