// The demo's misbehaving client (plain Node, which can send a real RST on every OS):
// `node demo/client.mjs <scenario> <port> [<port> ...]` plays one way of hanging up
// against each port at once and prints, per port, when it hung up (epoch ms, fractional).
import { readFileSync } from "node:fs";
import net from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const [scenario, ...ports] = process.argv.slice(2);

const scenarios = {
  async fin(socket) {
    socket.write("hello\n");
    await sleep(50);
    const at = now();
    socket.end();
    return at;
  },
  async "rst-after-data"(socket) {
    socket.write(`${"x".repeat(999)}\n`);
    const at = now();
    socket.resetAndDestroy();
    return at;
  },
  async "rst-idle"(socket) {
    socket.write("hello\n");
    await sleep(300);
    const at = now();
    socket.resetAndDestroy();
    return at;
  },
  async "half-close"(socket) {
    let reply = "";
    socket.on("data", (chunk) => (reply += chunk));
    socket.write("question\n");
    const at = now();
    socket.end();
    await new Promise((resolve) => socket.once("close", resolve));
    return { at, reply };
  },
  async silence(socket) {
    socket.write("hello\n");
    const at = now();
    await sleep(2500);
    socket.destroy();
    return at;
  },
  async "endless-line"(socket) {
    const at = now();
    const piece = Buffer.alloc(65536, "x");
    for (let sent = 0; sent < 4 << 20 && !socket.destroyed; sent += piece.length) {
      if (!socket.write(piece)) await Promise.race([new Promise((r) => socket.once("drain", r)), sleep(500)]);
    }
    await sleep(300);
    socket.destroy();
    return at;
  },
  async "tls-truncated"(socket) {
    // TLS over a stream this script feeds from the TCP socket, so that it can send the TCP FIN
    // under the TLS layer: no close_notify, as an attacker cutting the stream short would.
    const wire = new Duplex({ read() {}, write: (chunk, _encoding, done) => void socket.write(chunk, done) });
    socket.on("data", (chunk) => wire.push(chunk));
    socket.on("end", () => wire.push(null));
    const ca = readFileSync(new URL("../test/fixtures/tls/ca.pem", import.meta.url), "utf8");
    const secure = tls.connect({ socket: wire, ca, servername: "localhost" });
    secure.on("error", () => {});
    await new Promise((resolve) => secure.once("secureConnect", resolve));
    secure.write("hello\n");
    await sleep(50);
    const at = now();
    socket.end();
    await sleep(300);
    socket.destroy();
    return at;
  },
  async "slow-drip"(socket) {
    const at = now();
    for (const byte of "GET /slowly HTTP/1.1") {
      if (socket.destroyed) break;
      socket.write(byte);
      await sleep(150);
    }
    socket.destroy();
    return at;
  },
};

async function play(port) {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("connect", resolve));
  await sleep(50); // let the server accept and start reading, as with any established connection
  const result = await scenarios[scenario](socket);
  return typeof result === "number" ? { at: result } : result;
}

const results = await Promise.all(ports.map((port) => play(Number(port))));
console.log(JSON.stringify(results));
