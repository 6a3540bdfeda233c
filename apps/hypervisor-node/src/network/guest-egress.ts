// The guests' way out, until tenant networks exist (docs/guest-network.md). QEMU's user network
// maps the guest's gateway 10.0.2.2 to the loopback of the network namespace QEMU runs in, and
// makes its outbound connections from there. So a guest whose template wants outbound access runs
// its QEMU inside one egress namespace per node: its loopback has nothing listening, its only link
// is a veth to the host, and nftables on the host drops everything that namespace sends to any host
// address (input hook) or to the denied ranges (forward hook), and masquerades the rest. Guests
// without outbound access run with restrict=on and reach nothing at all.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { runCommand } from "../lib/run-command.ts";

export interface GuestEgress {
  /** Whether outbound access works here; `reason` says why not (not root, no nft…). */
  available: boolean;
  reason: string;
  /** The namespace QEMU runs in for guests with outbound access. */
  namespace: string;
  /** The command prefix that runs a program in it. */
  wrap(argv: string[]): string[];
}

/** Names and addresses of one node's egress namespace, from its data folder (stable, short). */
export function egressNames(dataDir: string) {
  const h = createHash("sha256").update(dataDir).digest();
  const tag = h.subarray(0, 3).toString("hex");
  // A /30 in 100.64.0.0/10 (shared address space: never a real destination of ours).
  const b = 64 + (h[3]! & 63), c = h[4]!, d = h[5]! & 252;
  return {
    namespace: `vdi-egress-${tag}`,
    hostIf: `vde${tag}h`,
    guestIf: `vde${tag}g`,
    table: `vdi_egress_${tag}`,
    hostAddr: `100.${b}.${c}.${d + 1}`,
    nsAddr: `100.${b}.${c}.${d + 2}`,
  };
}

async function run(argv: string[]): Promise<void> {
  const r = await runCommand(argv[0]!, argv.slice(1), 10_000).catch((e: Error) => ({ code: -1, stderr: e.message }));
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim().split("\n").pop() || `exit ${r.code}`}`);
}
const ok = (argv: string[]) => run(argv).then(() => true, () => false);

/**
 * Makes (or finds) the node's egress namespace with its veth, routes, forwarding and nftables
 * table; idempotent. `deny`: more ranges guests may not reach. Never throws: an unusable setup is
 * reported (`available: false`) and those guests get no outbound access.
 */
export async function ensureGuestEgress(dataDir: string, deny: readonly string[], log: (msg: string) => void): Promise<GuestEgress> {
  const n = egressNames(dataDir);
  const wrap = (argv: string[]) => ["ip", "netns", "exec", n.namespace, ...argv];
  const off = (reason: string): GuestEgress => ({ available: false, reason, namespace: n.namespace, wrap: (a) => a });
  if (process.getuid?.() !== 0) return off("outbound access for guests needs the node agent to run as root (network namespace, nftables)");
  if (!(await ok(["nft", "--version"]))) return off("nft is not installed (Debian package nftables)");
  try {
    if (!(await ok(["ip", "netns", "exec", n.namespace, "true"]))) await run(["ip", "netns", "add", n.namespace]);
    if (!(await ok(["ip", "link", "show", n.hostIf]))) {
      await run(["ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", n.guestIf]);
      await run(["ip", "link", "set", n.guestIf, "netns", n.namespace]);
      await run(["ip", "addr", "add", `${n.hostAddr}/30`, "dev", n.hostIf]);
      await run(["ip", "link", "set", n.hostIf, "up"]);
      await run(wrap(["ip", "addr", "add", `${n.nsAddr}/30`, "dev", n.guestIf]));
      await run(wrap(["ip", "link", "set", n.guestIf, "up"]));
      await run(wrap(["ip", "link", "set", "lo", "up"]));
      await run(wrap(["ip", "route", "add", "default", "via", n.hostAddr]));
    }
    // Forwarding for the namespace's traffic (a hypervisor host routes its guests, as libvirt does).
    await run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // One table per node, replaced whole: input from the namespace is dropped (no host address,
    // the veth's own included, is reachable), forwarding to the denied ranges is dropped, the rest
    // is masqueraded behind the host.
    const blocked = ["127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", ...deny].join(", ");
    const ruleset = `table inet ${n.table} {}
delete table inet ${n.table}
table inet ${n.table} {
  chain input { type filter hook input priority -10; policy accept; iifname "${n.hostIf}" drop; }
  chain forward { type filter hook forward priority -10; policy accept; iifname "${n.hostIf}" ip daddr { ${blocked} } drop; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; ip saddr ${n.nsAddr} oifname != "${n.hostIf}" masquerade; }
}
`;
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn("nft", ["-f", "-"], { stdio: ["pipe", "ignore", "pipe"] });
      let err = "";
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("error", (e) => resolve({ code: -1, err: e.message }));
      p.on("close", (code) => resolve({ code, err }));
      p.stdin.end(ruleset);
    });
    if (r.code !== 0) throw new Error(`nft: ${r.err.trim().split("\n").slice(-2).join(" ")}`);
  } catch (e) {
    log(`guest egress: ${(e as Error).message}`);
    return off(`the egress namespace could not be set up: ${(e as Error).message}`);
  }
  return { available: true, reason: `guests with outbound access run in namespace ${n.namespace} (NAT, no host address)`, namespace: n.namespace, wrap };
}

/** Removes a node's egress namespace, veth and nftables table (tests, and a node that is removed). */
export async function removeGuestEgress(dataDir: string): Promise<void> {
  const n = egressNames(dataDir);
  await ok(["nft", "delete", "table", "inet", n.table]);
  await ok(["ip", "link", "del", n.hostIf]);
  await ok(["ip", "netns", "del", n.namespace]);
}
