/** SPEC "TLS" T2: data then RST, hundreds of times per side, never reported as eof or truncated. */
import assert from "node:assert/strict";
import { ConnectionResetError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { SIDES } from "../support/fixtures.ts";
import { sha256, withPeer } from "../support/peer.ts";
import { hasTls, openTlsPair } from "../support/tls.ts";
import { drain, failWithoutTls } from "../support/tls-cases.ts";

if (!hasTls) failWithoutTls();
else {
  describe("tls reset race", () => {
    const TRIALS = 200;
    for (const side of SIDES) {
      test(`${TRIALS} trials of data then RST (hangup as ${side}): zero reported as eof or truncated`, () =>
        withPeer(async (peer) => {
          const misreports: string[] = [];
          const data = new Uint8Array(16_384).map((_, i) => i % 253);
          const deadline = Date.now() + 100_000;
          let trial = 0;
          for (; trial < TRIALS && Date.now() < deadline; trial++) {
            const { conn, remote } = await openTlsPair(peer, side);
            await peer.send(remote, { data, then: "rst" });
            const { bytes, outcome } = await drain(conn);
            if (!(outcome instanceof ConnectionResetError)) misreports.push(`trial ${trial}: ${String(outcome)}`);
            if (sha256(bytes) !== sha256(data)) misreports.push(`trial ${trial}: ${bytes.length} of ${data.length} bytes before the reset`);
            const ended = await conn.ended;
            if (ended.reason !== "reset") misreports.push(`trial ${trial}: ended.reason ${ended.reason}`);
            conn.reset();
            await conn.closed;
          }
          assert.deepEqual(misreports, []);
          assert.equal(trial, TRIALS, `only ${trial} trials within the time bound`);
        }), { timeout: 120_000 });
    }
  });
}
