/**
 * What the TLS test files share: the guard for an adapter without TLS, draining a connection, and
 * a plaintext client for STARTTLS.
 */
import type { Conn } from "../../src/index.ts";
import { concat } from "./bytes.ts";
import { collect } from "./fixtures.ts";
import { test } from "./harness.ts";
import type { Peer } from "./peer.ts";
import { runtime } from "./runtime.ts";
import { TLS_RUNTIMES, tlsAdapter } from "./tls.ts";

/** Stands for a TLS test file on a runtime whose adapter has no TLS: one test that fails, saying so. */
export function failWithoutTls(): void {
  test(`TLS is not built on ${runtime} yet (TLS_RUNTIMES: ${TLS_RUNTIMES.join(", ")})`, () => {
    throw new Error(`hangup's ${runtime} adapter has no TLS yet: this suite cannot pass here`);
  });
}

/** Every byte and how the loop ended: "eof", or the error it threw. */
export async function drain(conn: Conn): Promise<{ bytes: Uint8Array; outcome: unknown }> {
  const chunks: Uint8Array[] = [];
  const outcome = await collect(conn, chunks).then(() => "eof", (err: unknown) => err);
  return { bytes: concat(chunks), outcome };
}

/** A plaintext hangup client connected to the peer (for STARTTLS), and the peer's end of it. */
export async function plainClient(peer: Peer, listenOptions: Parameters<Peer["listen"]>[0] = {}): Promise<{ plain: Conn; remote: number }> {
  const { listener, port } = await peer.listen(listenOptions);
  const accepted = peer.accept(listener);
  const plain = await tlsAdapter.connect({ port } as never);
  return { plain, remote: await accepted };
}
