// Type-checked by scripts/test-package.mjs against the packed tarball with `tsc` and
// customConditions ["workerd"]: "hangup" must give the Workers adapter's declarations. Never run. No casts.
import * as hangup from "hangup";

export async function consumer(): Promise<void> {
  const conn = await hangup.connect({ hostname: "db.internal", port: 7000 });
  const readable: ReadableStream<Uint8Array> = conn.unwrap().native.readable;
  await readable.cancel();
  if (hangup.runtime === "workerd") console.log("workerd");
  // @ts-expect-error Workers cannot listen
  void hangup.listen;
  // Bytes read are over an ArrayBuffer: Web APIs that refuse a SharedArrayBuffer take them as they are.
  const body = await conn.readExactly(16);
  const digest: ArrayBuffer = await crypto.subtle.digest("SHA-256", body);
  console.log(new Response(body).status, digest.byteLength);
  const secure = await hangup.connect({ hostname: "db.internal", port: 6380, tls: { handshakeTimeout: 5000 } });
  console.log(secure.tls?.protocol);
  // @ts-expect-error Workers connect over TCP only
  void hangup.connect({ path: "/tmp/app.sock" });
  // @ts-expect-error workerd trusts the CAs of its own configuration
  void hangup.connect({ hostname: "db.internal", port: 6380, tls: { ca: "PEM" } });
}
