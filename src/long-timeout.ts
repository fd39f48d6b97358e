/**
 * The longest delay `setTimeout` honours on Node, Deno and Bun (2^31−1 ms, about 24.8 days).
 * A longer one fires at once on every runtime, so hangup never passes one.
 */
export const MAX_TIMER_DELAY: number = 2 ** 31 - 1;

/**
 * `setTimeout` for any delay: a delay above `MAX_TIMER_DELAY` is waited out in steps.
 * Returns the function that cancels it. With `holdsProcess` false the timer does not keep the
 * process alive (`unref()`, where the runtime's timers have it).
 *
 * @example
 * ```ts
 * const cancel = setLongTimeout(() => console.log("30 days later"), 30 * 86_400_000);
 * cancel();
 * ```
 */
export function setLongTimeout(callback: () => void, ms: number, holdsProcess = true): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const due = Date.now() + ms;
  const arm = (delay: number): void => {
    timer = setTimeout(() => {
      const left = due - Date.now();
      if (left > 0) arm(left);
      else callback();
    }, Math.min(delay, MAX_TIMER_DELAY));
    if (!holdsProcess) holdProcess(timer, false);
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/**
 * Whether `timer` keeps the process alive: Node's, Deno's and Bun's timers have `ref()` and
 * `unref()`; a runtime whose timers are numbers (Workers) has no process to keep, and is left be.
 *
 * @example
 * ```ts
 * holdProcess(setTimeout(poll, 30_000), false); // polls while the process runs, never keeps it running
 * ```
 */
export function holdProcess(timer: unknown, hold: boolean): void {
  const handle = timer as { ref?: () => void; unref?: () => void } | undefined;
  if (typeof handle !== "object" || handle === null) return;
  if (hold) handle.ref?.();
  else handle.unref?.();
}
