/**
 * Which native sockets a `Conn` reads from. A second reader would split the
 * bytes, so `wrap()` refuses a socket that is owned; `unwrap()` gives it up.
 * Held in a `WeakSet`: nothing is ever set on the user's object, and a socket
 * that is dropped is forgotten with it.
 *
 * @module
 */

const owned = new WeakSet<object>();

/**
 * Marks `native` as read by a `Conn`. Throws a `TypeError` if a `Conn` already
 * owns it.
 *
 * @example
 * ```ts
 * import { claim, release } from "hangup/core";
 * claim(socket);   // in the source's constructor
 * release(socket); // in its detach(), for unwrap()
 * ```
 */
export function claim(native: object): void {
  if (owned.has(native)) throw new TypeError("native is already wrapped by hangup; unwrap() that Conn first");
  owned.add(native);
}

/**
 * Gives `native` up (after `unwrap()`), so it may be wrapped again.
 *
 * @example
 * ```ts
 * import { release } from "hangup/core";
 * release(socket);
 * ```
 */
export function release(native: object): void {
  owned.delete(native);
}

/**
 * Whether a `Conn` owns `native`.
 *
 * @example
 * ```ts
 * import { isClaimed } from "hangup/core";
 * if (isClaimed(socket)) console.log("unwrap() it first");
 * ```
 */
export function isClaimed(native: object): boolean {
  return owned.has(native);
}
