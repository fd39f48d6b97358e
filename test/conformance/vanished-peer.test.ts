/**
 * A peer that vanishes without a word (link cut after the handshake: no FIN, no
 * RST ever arrives) is seen only by the idle timeout, within its bound.
 */
import assert from "node:assert/strict";
import { IdleTimeoutError } from "../../src/index.ts";
import type { Conn } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { rejection, SIDES, text, within } from "../support/fixtures.ts";
import { canBuildNetns, withVanishingPeer } from "../support/netns.ts";
import { hangup } from "../support/runtime.ts";

const IDLE = 1000;

for (const side of SIDES) {
  describe(`a vanished peer (hangup as ${side})`, () => {
    test.skipIf(!canBuildNetns, "needs root and iproute2 (ip netns) to cut a link; CI runs it as root")(
      "the link is cut after the handshake: idleTimeout reports it, the bytes before it are read",
      () =>
        withVanishingPeer(async ({ peer, hostAddress, peerAddress, cut }) => {
          let conn: Conn;
          let remote: number;
          if (side === "server") {
            const listener = await hangup.listen({ hostname: hostAddress, port: 0, idleTimeout: IDLE });
            const port = listener.addr.port;
            [remote, conn] = await Promise.all([peer.connect({ host: hostAddress, port }), listener.accept().then((c) => c!)]);
            await listener.close();
          } else {
            const { listener, port } = await peer.listen({ host: peerAddress });
            [conn, remote] = await Promise.all([hangup.connect({ hostname: peerAddress, port, idleTimeout: IDLE }), peer.accept(listener)]);
          }
          try {
            await peer.send(remote, { text: "still here" });
            assert.equal(text(await conn.read()), "still here");
            cut();
            const cutAt = Date.now();
            // The peer now closes and resets: nothing of it can cross the cut link.
            await peer.rst(remote);
            const info = await within(IDLE * 5, conn.ended, "ended after the link was cut");
            const elapsed = Date.now() - cutAt;
            assert.equal(info.reason, "idle");
            assert.ok(elapsed >= IDLE * 0.8, `idle reported after only ${elapsed} ms`);
            assert.ok(elapsed <= IDLE * 3, `idle reported after ${elapsed} ms, bound ${IDLE * 3} ms`);
            assert.ok((await rejection(conn.read())) instanceof IdleTimeoutError);
            await within(5000, conn.closed, "closed after the idle timeout");
          } finally {
            conn.reset();
          }
        }),
      { timeout: 30_000 },
    );
  });
}
