// Required by its package name from a CommonJS project: the CJS build must give Node's
// adapter, one identity for the error classes across entries, and a working round trip.
const main = require("hangup");
const core = require("hangup/core");
const node = require("hangup/node");

(async () => {
  const result = {
    runtime: main.runtime,
    sameResetClass: main.ConnectionResetError === core.ConnectionResetError && node.ConnectionResetError === core.ConnectionResetError,
    crossInstanceof: new core.ConnectionResetError() instanceof main.SocketError,
    // The class keeps its name through the build (a CJS transform renamed it `_class2`).
    className: main.ConnectionResetError.name,
    // Every exported class (and connect) is named as exported: what a stack trace or a printed error shows.
    misnamed: Object.entries(main)
      .filter(([key, value]) => typeof value === "function" && (/^[A-Z]/.test(key) || key === "connect") && value.name !== key)
      .map(([key, value]) => `${key} is ${value.name}`),
    hasAdapter: typeof main.connect === "function" && typeof main.listen === "function" && typeof main.serve === "function",
  };
  const listener = await main.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([main.connect({ port: listener.addr.port }), listener.accept()]);
  await client.write("ping");
  await client.closeWrite();
  let received = "";
  for await (const chunk of server) received += new TextDecoder().decode(chunk);
  await Promise.all([client.close(), server.close(), listener.close()]);
  result.roundTrip = received;
  console.log(JSON.stringify(result));
})();
