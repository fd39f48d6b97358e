/**
 * Length-prefixed request/response: a 4-byte big-endian length, then the payload.
 * `readExactly` returns whole frames however the bytes arrive, and a client that
 * quits mid-frame is reported with the bytes it did send.
 *
 *   npx tsx examples/framed.ts [port]
 *   ... --check                        sends a few frames, then quits mid-frame
 */
import process from "node:process";
import { type Conn, connect, LimitExceededError, listen, serve, UnexpectedEofError } from "hangup";

const check = process.argv.includes("--check");
const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0);
const MAX_FRAME = 1 << 20;

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/** The next frame's payload, or null when the peer closed between frames. */
async function readFrame(conn: Conn): Promise<Uint8Array | null> {
  if ((await conn.peek()) === null) return null;
  const header = await conn.readExactly(4);
  const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
  if (length > MAX_FRAME) throw new LimitExceededError(MAX_FRAME, `Cannot read: a frame of ${length} bytes, over ${MAX_FRAME}`);
  return conn.readExactly(length);
}

const listener = await listen({ hostname: "127.0.0.1", port });
console.log("framed server on", listener.addr);
const stop = new AbortController();
let lastError = "";
const server = serve(listener, async (conn) => {
  try {
    for (let payload = await readFrame(conn); payload !== null; payload = await readFrame(conn)) {
      const text = new TextDecoder().decode(payload);
      await conn.write(frame(new TextEncoder().encode(text.toUpperCase())));
    }
  } catch (err) {
    // The peer's doing, one line each (a stack per hostile client would flood the log).
    if (err instanceof LimitExceededError) return void console.log(`client dropped: ${err.message}`);
    if (!(err instanceof UnexpectedEofError)) throw err;
    lastError = `client quit mid-frame after ${err.partial.length} bytes`;
    console.log(lastError);
  }
}, { signal: stop.signal });

if (check) {
  const conn = await connect({ port: listener.addr.port });
  const replies: string[] = [];
  for (const word of ["alpha", "beta", "gamma"]) {
    await conn.write(frame(new TextEncoder().encode(word)));
    replies.push(new TextDecoder().decode((await readFrame(conn))!));
  }
  console.log("replies:", replies.join(" "));
  await conn.write(frame(new TextEncoder().encode("never finished")).subarray(0, 9));
  await conn.close();
  stop.abort();
  await server;
  if (replies.join(" ") !== "ALPHA BETA GAMMA" || !lastError.includes("after 5 bytes")) process.exit(1);
}
