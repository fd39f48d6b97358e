/** The one abort listener hangup puts on a signal, however many operations watch it. */
import assert from "node:assert/strict";
import { addAbortListener, removeAbortListener } from "../../src/abort-listeners.ts";
import { countedSignal } from "../support/counted-signal.ts";
import { describe, test } from "../support/harness.ts";

describe("abort listeners", () => {
  test("many callbacks share one listener on the signal, and it goes with the last of them", async () => {
    const { controller, listeners } = countedSignal();
    const callbacks = [() => {}, () => {}, () => {}];
    for (const callback of callbacks) addAbortListener(controller.signal, callback);
    assert.equal(listeners(), 1);
    removeAbortListener(controller.signal, callbacks[0]!);
    removeAbortListener(controller.signal, callbacks[1]!);
    assert.equal(listeners(), 1, "a callback still watches");
    removeAbortListener(controller.signal, callbacks[2]!);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(listeners(), 0, "nothing left on the signal (on Deno it would hold the process for an AbortSignal.timeout)");
  });

  test("a signal watched again in the same turn keeps its one listener: a read loop reusing a signal adds and removes none", async () => {
    const { controller, listeners, added } = countedSignal();
    let called = 0;
    for (let i = 0; i < 100; i++) {
      const callback = (): void => void called++;
      addAbortListener(controller.signal, callback);
      removeAbortListener(controller.signal, callback);
    }
    const last = (): void => void called++;
    addAbortListener(controller.signal, last);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(listeners(), 1, "still watched");
    assert.equal(added(), 1, "by the one listener added first");
    controller.abort();
    assert.equal(called, 1, "only the callback still added is called");
  });

  test("removing a callback that was never added leaves the others' listener in place", async () => {
    const { controller, listeners } = countedSignal();
    let called = 0;
    addAbortListener(controller.signal, () => called++);
    removeAbortListener(controller.signal, () => {});
    assert.equal(listeners(), 1);
    controller.abort();
    assert.equal(called, 1);
  });

  test("watching again after the last callback went adds the listener again, and an abort calls each callback once", async () => {
    const { controller, listeners } = countedSignal();
    const first = (): void => {};
    addAbortListener(controller.signal, first);
    removeAbortListener(controller.signal, first);
    const calls: string[] = [];
    addAbortListener(controller.signal, () => calls.push("a"));
    addAbortListener(controller.signal, () => calls.push("b"));
    assert.equal(listeners(), 1);
    controller.abort();
    controller.abort();
    assert.deepEqual(calls, ["a", "b"]);
  });

  test("a callback removed by one before it in the same abort is not called", async () => {
    const { controller } = countedSignal();
    const calls: string[] = [];
    const second = (): void => void calls.push("second");
    addAbortListener(controller.signal, async () => {
      calls.push("first");
      removeAbortListener(controller.signal, second);
    });
    addAbortListener(controller.signal, second);
    controller.abort();
    assert.deepEqual(calls, ["first"]);
  });
});
