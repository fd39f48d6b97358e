// Checks a RESP server before it is timed: a pipelined batch of commands (inline and array
// forms, a value with "\r\n" inside, a missing key) sent in pieces of 1 to 7 bytes with pauses, so
// every command is split across reads at every kind of boundary; the replies must match exactly.
//   node bench/resp-check.mjs <port>     exits 0 when right, 1 with the difference otherwise
import net from "node:net";

const resp = (...args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
const bulk = (a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`;

/** The requests and the exact replies they must get, for keys unique to this check. */
export function script(tag) {
  const key = `check:${tag}`;
  const value = "v\r\nä" + "x".repeat(300);
  return {
    request: `PING\r\n${resp("PING")}${resp("SET", key, value)}${resp("GET", key)}${resp("GET", key + ":none")}` +
      `${resp("SET", key + ":2", "")}${resp("GET", key + ":2")}PING\r\n${resp("PING", "hi")}`,
    expected: `+PONG\r\n+PONG\r\n+OK\r\n${bulk(value)}$-1\r\n+OK\r\n$0\r\n\r\n+PONG\r\n${bulk("hi")}`,
  };
}

export async function check(port, timeoutMs = 10_000) {
  const { request, expected } = script(`${process.pid}:${Date.now()}`);
  const bytes = Buffer.from(request);
  const want = Buffer.byteLength(expected);
  const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
  let got = Buffer.alloc(0);
  const replies = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`RESP check: no full reply in ${timeoutMs} ms; got ${JSON.stringify(got.toString())}`)),
      timeoutMs,
    );
    socket.on("data", (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= want) {
        clearTimeout(timer);
        resolve(got.toString());
      }
    });
    socket.on("error", reject);
    socket.on("end", () => reject(new Error(`RESP check: the server closed; got ${JSON.stringify(got.toString())}`)));
  });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = 1 + (i % 7);
    socket.write(bytes.subarray(at, at + size));
    at += size;
    await new Promise((resolve) => setTimeout(resolve, i < 64 ? 1 : 0));
  }
  const text = await replies;
  socket.destroy();
  if (text !== expected) throw new Error(`RESP check: wrong replies\n got  ${JSON.stringify(text)}\n want ${JSON.stringify(expected)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    await check(Number(process.argv[2]));
    console.log("ok");
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
