// Placement (docs/multi-node.md): a pure choice over the nodes' facts, which says why. Filters
// first (up, not drained, the engine, the template's image, capacity within the overcommit ratio
// of each resource), then the policy's weigher: spread (the most memory left, then the fewest
// VMs) or pack (the least memory left that fits, then the most VMs). The reasons go to the
// operation's log: "chose n1 (spread: 6.5 GiB of memory left); n2: drained; n3: 0.5 GiB left".

export type PlacementMode = "spread" | "pack";

export interface PlacementPolicy {
  mode: PlacementMode;
  /** How far the VMs' sum may exceed a node's total, per resource (vCPUs are commonly overcommitted, memory not). */
  overcommit: { cpu: number; memory: number };
}

export const DEFAULT_PLACEMENT: PlacementPolicy = { mode: "spread", overcommit: { cpu: 4, memory: 1 } };

export interface NodeFacts {
  id: string;
  name: string;
  drained: boolean;
  /** Null when up; else why not ("last seen 3 min ago"). */
  down: string | null;
  /** Null when the engine runs there; else why not. */
  engineMissing: string | null;
  hasImage: boolean;
  totalCpus: number;
  totalMemoryMiB: number;
  usedCpus: number;
  usedMemoryMiB: number;
  vms: number;
}

export interface PlacementWant {
  engine: string;
  image: string;
  cpus: number;
  memoryMiB: number;
}

export interface PlacementResult<N extends NodeFacts> {
  chosen: N | null;
  /** One line per node, the chosen one first: why it was taken or left. */
  reasons: string[];
  /** For the refusal: what kept every node out, in a sentence. */
  summary: string;
}

const gib = (mib: number) => `${(mib / 1024).toFixed(mib % 1024 === 0 ? 0 : 1)} GiB`;

/** Why `n` cannot take the VM, or null when it can. */
function refusal(n: NodeFacts, want: PlacementWant, policy: PlacementPolicy): string | null {
  if (n.drained) return "drained for maintenance";
  if (n.down) return `down (${n.down})`;
  if (n.engineMissing) return `no ${want.engine} engine (${n.engineMissing})`;
  if (!n.hasImage) return `no image "${want.image}"`;
  const memCap = Math.floor(n.totalMemoryMiB * policy.overcommit.memory);
  if (n.usedMemoryMiB + want.memoryMiB > memCap) {
    return `memory: ${gib(Math.max(0, memCap - n.usedMemoryMiB))} left of ${gib(memCap)}${policy.overcommit.memory !== 1 ? ` (×${policy.overcommit.memory} overcommit)` : ""}, ${gib(want.memoryMiB)} asked`;
  }
  const cpuCap = Math.floor(n.totalCpus * policy.overcommit.cpu);
  if (n.usedCpus + want.cpus > cpuCap) return `vCPUs: ${n.usedCpus} of ${cpuCap} in use (×${policy.overcommit.cpu} overcommit), ${want.cpus} asked`;
  return null;
}

export function choosePlacement<N extends NodeFacts>(nodes: N[], want: PlacementWant, policy: PlacementPolicy = DEFAULT_PLACEMENT): PlacementResult<N> {
  const judged = nodes.map((n) => ({ n, no: refusal(n, want, policy), left: Math.floor(n.totalMemoryMiB * policy.overcommit.memory) - n.usedMemoryMiB }));
  const fit = judged.filter((j) => j.no === null);
  const order = policy.mode === "spread"
    ? (a: (typeof fit)[number], b: (typeof fit)[number]) => b.left - a.left || a.n.vms - b.n.vms || a.n.name.localeCompare(b.n.name)
    : (a: (typeof fit)[number], b: (typeof fit)[number]) => a.left - b.left || b.n.vms - a.n.vms || a.n.name.localeCompare(b.n.name);
  fit.sort(order);
  const best = fit[0];
  const reasons: string[] = [];
  if (best) reasons.push(`chose ${best.n.name} (${policy.mode}: ${gib(best.left)} of memory left before this VM, ${best.n.vms} VM${best.n.vms === 1 ? "" : "s"})`);
  for (const j of fit.slice(1)) reasons.push(`${j.n.name}: fits, ${gib(j.left)} left, ${j.n.vms} VMs (${policy.mode} prefers ${best!.n.name})`);
  for (const j of judged.filter((x) => x.no !== null)) reasons.push(`${j.n.name}: ${j.no}`);
  const summary = nodes.length === 0 ? "no hypervisor node is registered yet"
    : judged.filter((j) => j.no !== null).map((j) => `${j.n.name}: ${j.no}`).join("; ");
  return { chosen: best?.n ?? null, reasons, summary };
}
