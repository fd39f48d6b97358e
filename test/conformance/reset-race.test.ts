/**
 * The reset race: data immediately followed by RST. Node 20 and 22 report most
 * of these as a clean EOF; hangup must report every one as a reset, after the data.
 */
import assert from "node:assert/strict";
import { ConnectionResetError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { collect, openPair, SIDES } from "../support/fixtures.ts";
import { withPeer } from "../support/peer.ts";
import { capabilities } from "../support/runtime.ts";

const TRIALS = 500; // per side: 1,000 per runtime

for (const side of SIDES) {
  describe(`reset race (hangup as ${side})`, () => {
    test(`${TRIALS} trials of 1000 bytes then RST: every one is a reset, after all 1000 bytes`, () =>
      withPeer(async (peer) => {
        const misreports: string[] = [];
        for (let trial = 0; trial < TRIALS; trial++) {
          const { conn, remote } = await openPair(peer, side);
          await peer.send(remote, { size: 1000, then: "rst" });
          const chunks: Uint8Array[] = [];
          const outcome = await collect(conn, chunks).then(() => "eof", (err: unknown) => err);
          const bytes = chunks.reduce((n, c) => n + c.length, 0);
          if (!(outcome instanceof ConnectionResetError)) misreports.push(`trial ${trial}: ${String(outcome)}`);
          else if (bytes !== 1000) misreports.push(`trial ${trial}: ${bytes} bytes before the reset`);
          const ended = await conn.ended;
          if (ended.reason !== "reset") misreports.push(`trial ${trial}: ended.reason ${ended.reason}`);
          conn.reset();
          await conn.closed;
        }
        assert.deepEqual(misreports, []);
      }), { timeout: 60_000 });
  });
}

/** Node 20 and 22 keep the false-EOF shortcut; Node 24+ dropped it (RUNTIME-NOTES). */
const falseEofPossible = capabilities.falseEof;

describe("reset race after our closeWrite() (hangup as server)", () => {
  test("every byte arrives; the end is a reset, except the documented Node 20/22 fallback to eof", () =>
    withPeer(async (peer) => {
      const wrong: string[] = [];
      for (let trial = 0; trial < 50; trial++) {
        const { conn, remote } = await openPair(peer, "server");
        await conn.closeWrite();
        await peer.recv(remote);
        await peer.send(remote, { size: 1000, then: "rst" });
        const chunks: Uint8Array[] = [];
        const outcome = await collect(conn, chunks).then(() => "eof", (err: unknown) => err);
        const bytes = chunks.reduce((n, c) => n + c.length, 0);
        const acceptable = outcome instanceof ConnectionResetError || (falseEofPossible && outcome === "eof");
        if (!acceptable) wrong.push(`trial ${trial}: ${String(outcome)}`);
        if (bytes !== 1000) wrong.push(`trial ${trial}: ${bytes} of 1000 bytes`);
        conn.reset();
        await conn.closed;
      }
      assert.deepEqual(wrong, []);
    }), { timeout: 60_000 });
});
