/**
 * A peer in a network namespace of its own, joined to ours by a veth pair, whose
 * link the test can cut: the peer then vanishes without a FIN or a RST, as after
 * a power loss. The namespace, the link and the addresses are the test's own and
 * are removed whatever happens.
 */
import { execFileSync } from "node:child_process";
import process from "node:process";
import { Peer } from "./peer.ts";

export interface Vanishing {
  peer: Peer;
  /** Our address on the link; the peer connects here. */
  hostAddress: string;
  /** The peer's address; we connect here. */
  peerAddress: string;
  /** Takes the link down: from now on nothing crosses it, not even a RST. */
  cut(): void;
}

/**
 * Whether this machine can build the test's network namespace: root and iproute2 on Linux.
 * Elsewhere the vanished-peer cases are reported as named skips, except under CI (which runs
 * as root), where a missing capability must fail.
 */
export const canBuildNetns: boolean = (() => {
  if (process.env.CI) return true;
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
    return typeof process.getuid === "function" && process.getuid() === 0;
  } catch {
    return false;
  }
})();

function ip(args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim() || String(err);
    throw new Error(
      `Cannot set up the vanished-peer network (ip ${args.join(" ")}): ${stderr}. ` +
        "This test needs root and iproute2 ('ip netns', veth); CI runs as root.",
    );
  }
}

export async function withVanishingPeer(body: (net: Vanishing) => Promise<void>): Promise<void> {
  const tag = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0");
  const ns = `hangup-${tag}`;
  const outside = `hu${tag}a`;
  const inside = `hu${tag}b`;
  const subnet = `10.${200 + (parseInt(tag.slice(0, 2), 16) % 50)}.${parseInt(tag.slice(2, 4), 16)}`;
  const hostAddress = `${subnet}.1`;
  const peerAddress = `${subnet}.2`;
  let peer: Peer | undefined;
  try {
    ip(["netns", "add", ns]);
    ip(["link", "add", outside, "type", "veth", "peer", "name", inside]);
    ip(["link", "set", inside, "netns", ns]);
    ip(["addr", "add", `${hostAddress}/30`, "dev", outside]);
    ip(["link", "set", outside, "up"]);
    ip(["-n", ns, "addr", "add", `${peerAddress}/30`, "dev", inside]);
    ip(["-n", ns, "link", "set", inside, "up"]);
    ip(["-n", ns, "link", "set", "lo", "up"]);
    peer = new Peer(["ip", "netns", "exec", ns]);
    await body({ peer, hostAddress, peerAddress, cut: () => void ip(["link", "set", outside, "down"]) });
  } finally {
    peer?.stop();
    for (const args of [["link", "del", outside], ["netns", "del", ns]]) {
      try {
        execFileSync("ip", args, { stdio: "ignore" });
      } catch {
        // Already gone (deleting the namespace removes both ends of the link).
      }
    }
  }
}
