// Type-checked by scripts/test-package.mjs against the packed tarball with `tsc` and
// customConditions ["bun"]: "hangup" must give the Bun adapter's declarations. Never run. No casts.
import type { Socket } from "bun";
import type { TLSSocket } from "node:tls";
import * as hangup from "hangup";

export async function consumer(): Promise<void> {
  const listener = await hangup.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await hangup.connect({ port: listener.addr.port });
  const native: Socket<unknown> = conn.unwrap().native;
  // SocketOwner exists only in the Bun adapter's declarations.
  const owner: hangup.SocketOwner = { data: (_socket, chunk) => console.log(chunk.length) };
  native.data = owner;
  const wrapped: hangup.Conn<Socket<unknown>> = hangup.wrap(native);
  wrapped.unwrap().native.end();
  if (hangup.runtime === "deno") console.log("runtime is the union of the four names");
  // Over TLS, native is the node:tls socket hangup runs over Bun's socket.
  const secure: TLSSocket = (await hangup.connect({ port: listener.addr.port, tls: true })).unwrap().native;
  const upgraded: TLSSocket = (await hangup.startTls(wrapped)).unwrap().native;
  // @ts-expect-error a TLS connection's native is not Bun's Socket
  const wrong: Socket<unknown> = (await hangup.connect({ port: listener.addr.port, tls: true })).unwrap().native;
  console.log(secure.authorized, upgraded.authorized, wrong);
}
