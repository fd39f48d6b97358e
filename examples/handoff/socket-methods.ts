/**
 * The `net.Socket` methods an HTTP server calls on its connections, for the Duplex that the
 * Deno and Bun hand-off recipes give it: `setTimeout` (the server's keep-alive and request
 * timeouts: `'timeout'` after `ms` without traffic), `setNoDelay`, `setKeepAlive`.
 *
 * @example
 * ```ts
 * const touch = addSocketMethods(duplex, { setNoDelay: (on) => native.setNoDelay(on) });
 * // call touch() on every byte read or written
 * ```
 *
 * @module
 */
import type { Duplex } from "node:stream";

/** Gives `duplex` the methods; returns the function to call on every read or write (traffic). */
export function addSocketMethods(
  duplex: Duplex,
  native: { setNoDelay?: (noDelay: boolean) => unknown; setKeepAlive?: (enable: boolean) => unknown },
): () => void {
  let ms = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const touch = (): void => {
    clearTimeout(timer);
    timer = ms > 0 && !duplex.destroyed ? setTimeout(() => duplex.emit("timeout"), ms) : undefined;
  };
  duplex.once("close", () => clearTimeout(timer));
  Object.assign(duplex, {
    setTimeout(timeout: number, callback?: () => void) {
      ms = timeout;
      if (callback) duplex.once("timeout", callback);
      touch();
      return duplex;
    },
    setNoDelay(noDelay = true) {
      native.setNoDelay?.(noDelay);
      return duplex;
    },
    setKeepAlive(enable = false) {
      native.setKeepAlive?.(enable);
      return duplex;
    },
  });
  return touch;
}
