/** A full garbage collection on demand, for tests that prove a connection is released. */
import v8 from "node:v8";
import vm from "node:vm";

let collect: (() => void) | undefined;

/** Collects garbage now: `Bun.gc(true)` on Bun; elsewhere V8's `gc`, exposed for the purpose. */
export function forceGc(): void {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun) return bun.gc(true);
  if (!collect) {
    v8.setFlagsFromString("--expose-gc");
    collect = vm.runInNewContext("gc") as () => void;
  }
  collect();
}

/**
 * Counts how many of the objects handed to `track` the collector has reclaimed, after collecting
 * a few times with a turn of the event loop in between (finalizers run later than the collection).
 */
export function reclaimed(): { track(object: object): void; settle(): Promise<number> } {
  let count = 0;
  const registry = new FinalizationRegistry<undefined>(() => void count++);
  return {
    track: (object) => registry.register(object, undefined),
    async settle() {
      for (let i = 0; i < 5; i++) {
        forceGc();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return count;
    },
  };
}
