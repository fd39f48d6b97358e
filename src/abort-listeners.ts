/**
 * One `abort` listener per signal, however many connections and operations watch it: a server
 * that gives every connection its shutdown signal adds a callback to a set, not a listener to the
 * signal (Node 20 warns of a leak past 10 listeners on one signal, and dispatch walks them all).
 *
 * @module
 */

const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `onAbort` once when `signal` aborts (as `addEventListener("abort", onAbort, { once: true })`).
 *
 * @example
 * ```ts
 * addAbortListener(signal, stop);
 * // later, if it did not fire:
 * removeAbortListener(signal, stop);
 * ```
 */
export function addAbortListener(signal: AbortSignal, onAbort: () => void): void {
  let callbacks = watchers.get(signal);
  if (callbacks === undefined) {
    const set = new Set<() => void>();
    callbacks = set;
    watchers.set(signal, set);
    signal.addEventListener("abort", () => {
      for (const callback of [...set]) {
        // Removed by a callback before it in this dispatch: not called, as with removeEventListener.
        if (!set.has(callback)) continue;
        try {
          callback();
        } catch (err) {
          // As a listener's throw is: reported, and the other callbacks still run.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
      watchers.delete(signal);
      set.clear();
    }, { once: true });
  }
  callbacks.add(onAbort);
}

/**
 * Forgets `onAbort` (as `removeEventListener("abort", onAbort)`).
 *
 * @example
 * ```ts
 * removeAbortListener(signal, stop);
 * ```
 */
export function removeAbortListener(signal: AbortSignal, onAbort: () => void): void {
  watchers.get(signal)?.delete(onAbort);
}
