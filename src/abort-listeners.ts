/**
 * One `abort` listener per signal, however many connections and operations watch it: a server
 * that gives every connection its shutdown signal adds a callback to a set, not a listener to the
 * signal (Node 20 warns of a leak past 10 listeners on one signal, and dispatch walks them all).
 *
 * @module
 */

/** A signal's one listener and the callbacks it calls. */
interface Watch {
  readonly callbacks: Set<() => void>;
  readonly listener: () => void;
}

const watchers = new WeakMap<AbortSignal, Watch>();

/**
 * Calls `onAbort` once when `signal` aborts (as `addEventListener("abort", onAbort, { once: true })`).
 *
 * @example
 * ```ts
 * addAbortListener(shutdown, stop);
 * // later, if it did not fire:
 * removeAbortListener(shutdown, stop);
 * ```
 */
export function addAbortListener(signal: AbortSignal, onAbort: () => void): void {
  let watch = watchers.get(signal);
  if (watch === undefined) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      for (const callback of [...callbacks]) {
        // Removed by a callback before it in this dispatch: not called, as with removeEventListener.
        if (!callbacks.has(callback)) continue;
        try {
          callback();
        } catch (err) {
          // As a listener's throw is: reported, and the other callbacks still run.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
      // Only this watch: a callback may have replaced it (removed the last, added another).
      if (watchers.get(signal) === watch) watchers.delete(signal);
      callbacks.clear();
    };
    watch = { callbacks, listener };
    watchers.set(signal, watch);
    signal.addEventListener("abort", listener, { once: true });
  }
  watch.callbacks.add(onAbort);
}

/** Signals whose last callback went: their listener is removed at the next sweep unless watched again. */
const emptied = new Set<AbortSignal>();
let sweepScheduled = false;

function sweep(): void {
  sweepScheduled = false;
  for (const signal of emptied) {
    const watch = watchers.get(signal);
    if (watch === undefined || watch.callbacks.size > 0) continue;
    watchers.delete(signal);
    signal.removeEventListener("abort", watch.listener);
  }
  emptied.clear();
}

/**
 * Forgets `onAbort` (as `removeEventListener("abort", onAbort)`). The signal's listener goes with
 * its last callback, a moment later (so a signal reused read after read keeps one listener and
 * pays no add and remove each time): on Deno, a listener left on `AbortSignal.timeout()` keeps the
 * process alive until the timer fires.
 *
 * @example
 * ```ts
 * removeAbortListener(shutdown, stop);
 * ```
 */
export function removeAbortListener(signal: AbortSignal, onAbort: () => void): void {
  const watch = watchers.get(signal);
  if (watch === undefined || !watch.callbacks.delete(onAbort) || watch.callbacks.size > 0) return;
  emptied.add(signal);
  if (sweepScheduled) return;
  sweepScheduled = true;
  setTimeout(sweep, 0);
}
