/**
 * The fault storm: many connections against `serve`, each scripted at random by the
 * peer (FIN after random bytes, RST after random bytes, half-close then wait for the
 * reply, silence into the idle timeout, a slow drip, connect-then-RST, an over-long
 * line), plus two write classes a fixed number of times: a client that never reads while
 * the server writes (the server's `writeTimeout` ends its writes with WriteTimeoutError) and
 * one that resets while the server has a big write pending (it must reject, with
 * ConnectionResetError). Every connection's outcome must match what the peer really did,
 * every byte and every write's outcome must be accounted for, and file descriptors must
 * return to the baseline.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "../support/harness.ts";
import { sleep } from "../support/fixtures.ts";
import { withPeer } from "../support/peer.ts";
import { runtime } from "../support/runtime.ts";
import { activeTimers, openFds, runStorm } from "../support/storm.ts";

/** Connections per run: bounded for CI; `HANGUP_STORM=2000` for the full size (`npm run soak` loops it). */
const COUNT = Number(process.env.HANGUP_STORM ?? 1000);
const CONCURRENCY = 200;
const IDLE = 500;
/** Connections of each write class ("never reads", "pending write at teardown"). */
const WRITE_CLASS = 12;

describe(`fault storm (${runtime})`, () => {
  test(
    `${COUNT} scripted connections and ${
      2 * WRITE_CLASS
    } write-class ones, ≤ ${CONCURRENCY} at once: every outcome matches the peer's truth, nothing leaks`,
    () =>
      withPeer(async (peer) => {
        const fdsBefore = openFds();
        const timersBefore = activeTimers();
        const result = await runStorm(peer, {
          count: COUNT,
          concurrency: CONCURRENCY,
          idle: IDLE,
          classes: { neverread: WRITE_CLASS, teardown: WRITE_CLASS },
        });
        assert.equal(result.count, COUNT + 2 * WRITE_CLASS);
        assert.equal(result.byScenario.neverread, WRITE_CLASS);
        assert.equal(result.byScenario.teardown, WRITE_CLASS);
        assert.deepEqual(
          result.problems.slice(0, 12),
          [],
          `${result.problems.length} of ${COUNT} connections disagree with the truth (${JSON.stringify(result.byScenario)})`,
        );
        assert.deepEqual(result.handlerFailures, []);

        // Everything released: file descriptors (and, where the runtime tells, timers) back to the baseline.
        let fds = openFds();
        for (let i = 0; i < 40 && fds > fdsBefore + 2; i++) {
          await sleep(50);
          fds = openFds();
        }
        assert.ok(fds <= fdsBefore + 2, `open file descriptors: ${fdsBefore} before, ${fds} after`);
        const timersAfter = activeTimers();
        assert.ok(timersAfter <= timersBefore + 1, `active timers: ${timersBefore} before, ${timersAfter} after`);
      }),
    { timeout: 120_000 },
  );
});
