// The close-detection peer: a Node server that, on each connection, waits for one byte and
// then closes at once: "F" → FIN (end()), "R" → RST (resetAndDestroy()). Prints its port.
import net from "node:net";

const server = net.createServer((socket) => {
  socket.on("error", () => {});
  socket.once("data", (byte) => {
    if (byte[0] === 0x52 /* R */) socket.resetAndDestroy();
    else socket.end();
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
