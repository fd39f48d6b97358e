/**
 * The Worker under test, run by real workerd: each request runs one client-side case
 * with hangup's Workers adapter against the test peer and answers what it observed.
 * GET /run?case=<name>&port=<peer port>
 */
import {
  capabilities,
  connect,
  type Conn,
  ConnectionRefusedError,
  ConnectionResetError,
  IdleTimeoutError,
  SocketError,
  UnexpectedEofError,
} from "../../adapters/workerd.ts";
import { concat } from "../support/bytes.ts";

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { thrown: String(err) };
  return {
    name: err.name,
    code: (err as { code?: unknown }).code,
    message: err.message,
    isSocketError: err instanceof SocketError,
    isReset: err instanceof ConnectionResetError,
    isRefused: err instanceof ConnectionRefusedError,
    isIdle: err instanceof IdleTimeoutError,
    isUnexpectedEof: err instanceof UnexpectedEofError,
    partial: err instanceof UnexpectedEofError ? err.partial.length : undefined,
  };
}

/** Every byte until the loop ends or throws. */
async function drain(conn: Conn): Promise<Record<string, unknown>> {
  const chunks: Uint8Array[] = [];
  let error: Record<string, unknown> | undefined;
  try {
    for await (const chunk of conn) chunks.push(chunk);
  } catch (err) {
    error = describeError(err);
  }
  const bytes = concat(chunks);
  const ended = await conn.ended;
  return { length: bytes.length, sha256: await sha256(bytes), error, ended: ended.reason, endedError: ended.error?.name };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : new TextDecoder().decode(bytes));

const cases: Record<string, (port: number) => Promise<unknown>> = {
  async eof(port) {
    return drain(await connect({ port }));
  },
  async reset(port) {
    return drain(await connect({ port }));
  },
  async "half-close"(port) {
    const conn = await connect({ port });
    await conn.write("request");
    await conn.closeWrite();
    return drain(conn);
  },
  async "write-after-peer-close"(port) {
    const conn = await connect({ port });
    const first = await drain(conn);
    let writeError: Record<string, unknown> | undefined;
    for (let i = 0; i < 40 && !writeError; i++) {
      try {
        await conn.write("late");
      } catch (err) {
        writeError = describeError(err);
      }
      await sleep(50);
    }
    return { ...first, writeError };
  },
  async abort(port) {
    const conn = await connect({ port });
    const reason = new Error("stop waiting");
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 100);
    let same = false;
    try {
      await conn.read({ signal: controller.signal });
    } catch (err) {
      same = err === reason;
    }
    await conn.write("still usable");
    await conn.close();
    return { rejectedWithReason: same };
  },
  async helpers(port) {
    const conn = await connect({ port });
    const header = await conn.readExactly(4);
    const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    const payload = text(await conn.readExactly(length));
    const lines: string[] = [];
    for await (const line of conn.lines({ maxBytes: 64 })) lines.push(line);
    return { length, payload, lines };
  },
  async "unexpected-eof"(port) {
    const conn = await connect({ port });
    try {
      await conn.readExactly(100);
      return { error: undefined };
    } catch (err) {
      return { error: describeError(err) };
    }
  },
  async idle(port) {
    const conn = await connect({ port, idleTimeout: 300 });
    const started = Date.now();
    const info = await conn.ended;
    return { ended: info.reason, error: info.error?.name, elapsed: Date.now() - started };
  },
  async capabilities() {
    return { capabilities, frozen: Object.isFrozen(capabilities) };
  },
  async refused(port) {
    try {
      await connect({ port, timeout: 5000 });
      return { error: undefined };
    } catch (err) {
      return { error: describeError(err) };
    }
  },
};

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const run = cases[url.searchParams.get("case") ?? ""];
    if (!run) return new Response("unknown case", { status: 404 });
    try {
      return Response.json(await run(Number(url.searchParams.get("port"))));
    } catch (err) {
      return Response.json({ crashed: describeError(err) }, { status: 500 });
    }
  },
};
