/**
 * The longest delay `setTimeout` honours on Node, Deno and Bun (2^31−1 ms, about 24.8 days).
 * A longer one fires at once on every runtime, so hangup never passes one.
 */
export const MAX_TIMER_DELAY: number = 2 ** 31 - 1;

/**
 * `setTimeout` for any delay: a delay above `MAX_TIMER_DELAY` is waited out in steps.
 * Returns the function that cancels it.
 *
 * @example
 * ```ts
 * const cancel = setLongTimeout(() => console.log("30 days later"), 30 * 86_400_000);
 * cancel();
 * ```
 */
export function setLongTimeout(callback: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const due = Date.now() + ms;
  const arm = (delay: number): void => {
    timer = setTimeout(() => {
      const left = due - Date.now();
      if (left > 0) arm(left);
      else callback();
    }, Math.min(delay, MAX_TIMER_DELAY));
  };
  arm(ms);
  return () => clearTimeout(timer);
}
