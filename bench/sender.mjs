// The benchmarks' peer, always a separate Node process so the receiver measures only itself.
//   node bench/sender.mjs bytes  <port> <total>   64 KiB writes, then FIN
//   node bench/sender.mjs lines  <port> <count>   ~40-byte lines, then FIN
//   node bench/sender.mjs frames <port> <count>   4-byte length + 100-byte payload, then FIN
//   node bench/sender.mjs idle   <port> <count>   open <count> connections, send nothing, hold until killed
//   node bench/sender.mjs blast  <port> <total>   like bytes, but stops quietly when the receiver closes
import net from "node:net";

const [mode, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);

function connect() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Writes `blocks` (each at most `count` units in total) with backpressure, then FIN. */
async function stream(socket, nextBlock) {
  for (let block = nextBlock(); block; block = nextBlock()) {
    if (!socket.write(block)) await new Promise((resolve) => socket.once("drain", resolve));
  }
  await new Promise((resolve) => socket.end(resolve));
}

/** Sends `count` copies of `unit`, `perBlock` of them per write, then FIN. */
async function streamUnits(unit, perBlock) {
  const socket = await connect();
  const block = repeat(unit, perBlock);
  let left = count;
  await stream(socket, () => {
    if (left <= 0) return undefined;
    const n = Math.min(left, perBlock);
    left -= n;
    return n === perBlock ? block : block.subarray(0, n * unit.length);
  });
}

function repeat(unit, units) {
  const block = Buffer.alloc(unit.length * units);
  for (let i = 0; i < units; i++) unit.copy(block, i * unit.length);
  return block;
}

if (mode === "bytes" || mode === "blast") {
  const socket = await connect();
  socket.on("error", () => process.exit(0));
  const chunk = Buffer.alloc(65536, 7);
  let left = count;
  await stream(socket, () => {
    if (left <= 0) return undefined;
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    return piece;
  });
} else if (mode === "lines") {
  await streamUnits(Buffer.from("line 0001234 lorem ipsum dolor sit amet\n"), 1638); // 40-byte lines
} else if (mode === "frames") {
  const frame = Buffer.alloc(104, 0x61);
  frame.writeUInt32BE(100, 0);
  await streamUnits(frame, 630);
} else if (mode === "idle") {
  const sockets = [];
  for (let i = 0; i < count; i += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, connect))));
  }
  for (const s of sockets) s.on("error", () => {});
  console.log("connected", sockets.length);
  setInterval(() => {}, 1 << 30);
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
