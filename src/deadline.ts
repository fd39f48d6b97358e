import { addAbortListener, removeAbortListener } from "./abort-listeners.ts";
import { TimedOutError } from "./errors.ts";
import { setLongTimeout } from "./long-timeout.ts";

/**
 * How an adapter's connect attempt is cut short.
 *
 * @example
 * ```ts
 * const cancelled = new AbortController();
 * const attempt = mySocketConnect(endpoint, { signal: cancelled.signal });
 * await withDeadline(attempt, { timeout: 5000, signal, cancel: () => cancelled.abort(), discard: (s) => s.close() });
 * ```
 */
export interface DeadlineOptions<T> {
  /** ms before `TimedOutError`; 0 for none. */
  timeout: number;
  signal: AbortSignal | undefined;
  /** Stop the attempt (destroy the half-open socket). */
  cancel: () => void;
  /** Release a value that arrived after the attempt was given up. */
  discard: (late: T) => void;
  /** The error for a timeout; default `TimedOutError` ("Cannot connect: timed out after … ms"). */
  timedOut?: (() => unknown) | undefined;
}

/**
 * `attempt`, or `TimedOutError` (or `timedOut()`'s error) after `timeout` ms, or `signal.reason` on abort,
 * whichever comes first; what loses is cancelled or discarded, never leaked.
 *
 * @example
 * ```ts
 * const cancelled = new AbortController();
 * const socket = await withDeadline(mySocketConnect(endpoint, { signal: cancelled.signal }), {
 *   timeout: 5000, signal, cancel: () => cancelled.abort(), discard: (s) => s.close(),
 * });
 * ```
 */
export function withDeadline<T>(attempt: Promise<T>, options: DeadlineOptions<T>): Promise<T> {
  const { timeout, signal, cancel, discard, timedOut } = options;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let cancelTimer: (() => void) | undefined;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      cancelTimer?.();
      if (signal) removeAbortListener(signal, onAbort);
      return true;
    };
    const giveUp = (reason: unknown): void => {
      if (!finish()) return;
      cancel();
      reject(reason);
    };
    const onAbort = (): void => giveUp(signal!.reason);
    // Watched first: an attempt that fails once cancelled is a loser's failure, never unhandled.
    attempt.then(
      (value) => (finish() ? resolve(value) : discard(value)),
      (err: unknown) => {
        if (finish()) reject(err);
      },
    );
    if (signal?.aborted) return giveUp(signal.reason);
    if (signal) addAbortListener(signal, onAbort);
    if (timeout > 0) {
      cancelTimer = setLongTimeout(
        () => giveUp(timedOut ? timedOut() : new TimedOutError(`Cannot connect: timed out after ${timeout} ms`)),
        timeout,
      );
    }
  });
}
