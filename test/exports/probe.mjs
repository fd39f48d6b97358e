// Imported by its package name from a project that depends on hangup: which adapter did the
// "hangup" export condition pick, and do the entries share one identity for the error classes?
import { createRequire } from "node:module";
import * as main from "hangup";
import * as core from "hangup/core";

const adapter = await import(`hangup/${main.runtime}`);
const result = {
  runtime: main.runtime,
  sameResetClass: main.ConnectionResetError === core.ConnectionResetError && adapter.ConnectionResetError === core.ConnectionResetError,
  crossInstanceof: new core.ConnectionResetError() instanceof main.SocketError,
  // The class keeps its name through the build (a CJS transform renamed it `_class2`).
  className: main.ConnectionResetError.name,
  // Every exported class (and connect) is named as exported: what a stack trace or a printed error shows.
  misnamed: Object.entries(main)
    .filter(([key, value]) => typeof value === "function" && (/^[A-Z]/.test(key) || key === "connect") && value.name !== key)
    .map(([key, value]) => `${key} is ${value.name}`),
  hasAdapter: typeof main.connect === "function" && typeof main.listen === "function" && typeof main.serve === "function",
};
// An error thrown by the CommonJS build (what a `require("hangup")` dependency gets) keeps its
// identity against the classes of the ESM build this module imported.
const cjs = createRequire(import.meta.url)("hangup");
const thrown = await cjs.connect({ hostname: "127.0.0.1", port: 1 }).catch((err) => err);
result.requireThrownInstanceof = cjs.ConnectionRefusedError !== main.ConnectionRefusedError &&
  thrown instanceof main.ConnectionRefusedError && thrown instanceof main.SocketError && thrown instanceof core.SocketError &&
  !(thrown instanceof main.BrokenPipeError) && !(thrown instanceof main.ConnectionResetError) &&
  !(new main.BrokenPipeError() instanceof cjs.AddressInUseError) && new main.BrokenPipeError() instanceof cjs.BrokenPipeError;
// A real round trip through the picked adapter.
const listener = await main.listen({ hostname: "127.0.0.1", port: 0 });
const [client, server] = await Promise.all([main.connect({ port: listener.addr.port }), listener.accept()]);
await client.write("ping");
await client.closeWrite();
let received = "";
for await (const chunk of server) received += new TextDecoder().decode(chunk);
await Promise.all([client.close(), server.close(), listener.close()]);
result.roundTrip = received;
console.log(JSON.stringify(result));
