/** A free TCP port on loopback, for a server program that takes its port on the command line. */
import { createServer } from "node:net";

/**
 * A port the OS gave a probe on 127.0.0.1 and took back: free now, though another process may
 * take it before the caller binds it (retry on that).
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().on("error", reject).listen(0, "127.0.0.1", () => {
      const address = probe.address() as { port: number };
      probe.close(() => resolve(address.port));
    });
  });
}
