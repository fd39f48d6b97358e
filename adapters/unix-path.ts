/**
 * The longest Unix socket path the OS takes, checked before binding or connecting: Node cuts a
 * longer path short without a word (and binds or connects to another path), and Bun words the
 * failure differently from Deno. Used by the Node, Deno and Bun adapters.
 *
 * @module
 */
import { statSync } from "node:fs";
import { dirname } from "node:path";
import process from "node:process";

/** sun_path's size less its terminating NUL: 108 bytes on Linux, 104 elsewhere. */
const MAX_UNIX_PATH = process.platform === "linux" ? 107 : 103;

/**
 * Throws an `EINVAL` error (which the adapter kit makes a `SocketError`) for a path the OS cannot
 * take, as Deno's does.
 *
 * @example
 * ```ts
 * checkUnixPath("/tmp/app.sock"); // fine
 * checkUnixPath(`/tmp/${"x".repeat(200)}`); // Error (code EINVAL): path must be shorter than SUN_LEN: 205 bytes, at most 107
 * ```
 */
export function checkUnixPath(path: string): void {
  if (process.platform === "win32") return; // a named pipe, not sun_path
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > MAX_UNIX_PATH) {
    throw Object.assign(new Error(`path must be shorter than SUN_LEN: ${bytes} bytes, at most ${MAX_UNIX_PATH}`), { code: "EINVAL" });
  }
}

/**
 * Node (libuv) reports binding a Unix socket in a directory that does not exist as `EACCES`, so
 * even root reads "permission denied"; Deno and Bun say `ENOENT`. This gives Node's error the
 * same code, keeping the original as `cause`.
 *
 * @example
 * ```ts
 * server.once("error", (err) => reject(unixBindError(err, "/no/such/dir/app.sock")));
 * ```
 */
export function unixBindError(err: unknown, path: string): unknown {
  if ((err as { code?: unknown } | null)?.code !== "EACCES") return err;
  try {
    statSync(dirname(path));
    return err; // the directory is there: a real permission error
  } catch (statError) {
    const code = (statError as { code?: unknown }).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") return err; // a parent we may not search: EACCES it is
  }
  return Object.assign(new Error(`no such directory: ${dirname(path)}`, { cause: err }), { code: "ENOENT" });
}
