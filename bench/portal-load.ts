// Load on a real portal: 50 users each listing VMs in a loop, 20 create/delete loops, and a node
// that syncs as the agent does (a 10 s long-poll and a report every 4 s). Reports vm.list p50/p99
// and whether the portal ever judged the node down. Writes bench/results/portal-load.json.
// Usage (bench/portal-load.sh starts a portal for it): tsx bench/portal-load.ts <label>
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { appRouter, createApiDeps, createCallerFactory, ensureTenant, ensureUser, generateConsoleKeyPem, type Actor } from "@vdi/api";

const label = process.argv[2] ?? "run";
const PORTAL = process.env.VDI_LOAD_PORTAL_URL ?? "http://127.0.0.1:3400";
const DB = process.env.VDI_LOAD_DATABASE_URL!;
const JOIN = process.env.VDI_NODE_JOIN_TOKEN!;
const SECONDS = Number(process.env.VDI_LOAD_SECONDS ?? 60);
const LISTERS = 50, CREATORS = 20, SEEDED_VMS = Number(process.env.VDI_LOAD_VMS ?? 500);
const RESULTS = join(import.meta.dirname, "results", "portal-load.json");

type Reply = { status: number; ms: number; data?: unknown; error?: string };
async function call(kind: "q" | "m", path: string, input: unknown, auth: string): Promise<Reply> {
  const t0 = performance.now();
  try {
    const url = kind === "q" ? `${PORTAL}/api/trpc/${path}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`}` : `${PORTAL}/api/trpc/${path}`;
    const res = await fetch(url, {
      method: kind === "q" ? "GET" : "POST",
      headers: { authorization: auth, "content-type": "application/json", origin: PORTAL },
      ...(kind === "m" ? { body: JSON.stringify(input) } : {}),
      signal: AbortSignal.timeout(120_000),
    });
    const body = (await res.json()) as { result?: { data: unknown }; error?: { message: string } };
    return { status: res.status, ms: performance.now() - t0, data: body.result?.data, error: body.error?.message };
  } catch (e) {
    return { status: 0, ms: performance.now() - t0, error: (e as Error).message };
  }
}
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!) : null; };

// Users and tokens straight in the portal's database (as setup scripts do), before the load starts.
const deps = createApiDeps({ databaseUrl: DB, authSecret: "x".repeat(32), publicUrl: PORTAL, consolePrivateKeyPem: generateConsoleKeyPem(), nodeJoinToken: JOIN, nodeDownAfterMs: 15_000 });
const caller = createCallerFactory(appRouter);
const tenant = await ensureTenant(deps.db, "load", "Load tenant");
await deps.db.tenant.update({ where: { id: tenant.id }, data: { maxVms: 100_000, maxVcpus: 1_000_000, maxMemoryMiB: 1 << 30, maxDiskGiB: 1 << 30 } });
const tokens: string[] = [];
const actors: Actor[] = [];
for (let i = 0; i < LISTERS; i++) {
  const u = await ensureUser(deps, { email: `load${i}@load.test`, name: `load${i}`, password: "load-password-123", tenantId: tenant.id, role: "tenant_admin" });
  const actor: Actor = { userId: u.id, tenantId: tenant.id, role: "tenant_admin", email: `load${i}@load.test`, name: `load${i}`, via: "session", scopes: null };
  const ctx = { ...deps, headers: new Headers(), resHeaders: new Headers(), ip: "127.0.0.1", actor };
  const { token } = await caller(ctx).apiToken.create({ name: `load-${label}-${Date.now()}`, scopes: ["vm:read", "vm:write"], expiresInDays: 1 });
  tokens.push(`Bearer ${token}`);
  actors.push(actor);
}

// The node, as the agent: registers, then long-polls and reports.
const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const registered = await call("m", "nodeAgent.register", { joinToken: JOIN, name: `load-node-${label}`, apiUrl: "http://127.0.0.1:4400", consoleUrl: "ws://127.0.0.1:4400", totalCpus: 64, totalMemoryMiB: 1 << 24, capabilities: caps }, "");
const reg = registered.data as { nodeId: string; secret: string } | undefined;
if (!reg) throw new Error(`node registration refused: ${registered.status} ${registered.error}`);
const nodeAuth = `Bearer node.${reg.nodeId}.${reg.secret}`;
const template = ((await call("q", "template.list", {}, tokens[0]!)).data as { id: string; slug: string }[]).find((t) => t.slug === "debian-shell")!;
if (SEEDED_VMS > 0) {
  const rows = Array.from({ length: SEEDED_VMS }, (_, i) => ({ name: `seed-${label}-${i}`, tenantId: tenant.id, ownerId: actors[i % LISTERS]!.userId, templateId: template.id, nodeId: reg.nodeId, cpus: 1, memoryMiB: 128, diskGiB: 1, macAddress: "52:54:00:00:00:01", actualState: "running" }));
  for (let i = 0; i < rows.length; i += 50) await deps.db.vm.createMany({ data: rows.slice(i, i + 50) });
}

let stop = false;
type Desired = { vms: { id: string; desiredState: string; op: { id: string } | null }[]; etag: string; desiredAt: number };
let desired: Desired = { vms: [], etag: "", desiredAt: 0 };
const syncMs: number[] = [];
const waker: { wake: (() => void) | null } = { wake: null };
const report = () => desired.vms.map((v) => ({ id: v.id, state: v.desiredState === "deleted" ? "deleted" : "running", ...(v.op ? { op: { id: v.op.id, status: "succeeded", progress: 100 } } : {}) }));
async function sync(waitMs: number, withReports: boolean) {
  const r = await call("m", "nodeAgent.sync", { vms: withReports ? report() : [], capabilities: caps, etag: desired.etag || null, waitMs }, nodeAuth);
  syncMs.push(r.ms);
  const d = r.data as Desired | undefined;
  if (d && d.desiredAt >= desired.desiredAt && d.etag !== desired.etag) { desired = d; waker.wake?.(); }
}
const watch = (async () => { while (!stop) await sync(10_000, false); })();
const reporter = (async () => {
  while (!stop) {
    await new Promise<void>((r) => { waker.wake = r; setTimeout(r, 4_000); });
    await sync(0, true);
  }
})();
await sync(0, true);

// Whether the portal judges the node up, as a user sees it, every second.
const downSamples: string[] = [];
let samples = 0;
const monitor = (async () => {
  while (!stop) {
    const r = await call("q", "node.list", {}, tokens[0]!);
    samples++;
    const n = (r.data as { id: string; up: boolean; lastSeen: string }[] | undefined)?.find((x) => x.id === reg.nodeId);
    if (n && !n.up) downSamples.push(`${new Date().toISOString()} ${n.lastSeen}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
})();

const listMs: number[] = [];
const listErrors: Record<string, number> = {};
const listers = tokens.map(async (auth) => {
  while (!stop) {
    const r = await call("q", "vm.list", {}, auth);
    if (r.status === 200) listMs.push(r.ms);
    else listErrors[`${r.status} ${r.error}`] = (listErrors[`${r.status} ${r.error}`] ?? 0) + 1;
  }
});
const createErrors: Record<string, number> = {};
let cycles = 0;
const createMs: number[] = [];
const creators = tokens.slice(0, CREATORS).map(async (auth, i) => {
  let n = 0;
  while (!stop) {
    const c = await call("m", "vm.create", { templateId: template.id, name: `l-${label}-${i}-${n++}`, memoryMiB: 128 }, auth);
    if (c.status !== 200) { createErrors[`create ${c.status} ${c.error}`] = (createErrors[`create ${c.status} ${c.error}`] ?? 0) + 1; await new Promise((r) => setTimeout(r, 500)); continue; }
    createMs.push(c.ms);
    const { vmId } = c.data as { vmId: string };
    for (;;) {  // delete once the node reports it running (the action is refused while the create runs)
      const d = await call("m", "vm.delete", { vmId }, auth);
      if (d.status === 200 || stop) break;
      if (!/in progress/.test(d.error ?? "")) createErrors[`delete ${d.status} ${d.error}`] = (createErrors[`delete ${d.status} ${d.error}`] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 500));
    }
    cycles++;
  }
});

await new Promise((r) => setTimeout(r, SECONDS * 1000));
stop = true;
waker.wake?.();
await Promise.allSettled([...listers, ...creators, monitor, reporter]);
void watch;  // the long-poll ends within 10 s; not awaited

const result = {
  label, at: new Date().toISOString(), seconds: SECONDS, seededVms: SEEDED_VMS, listers: LISTERS, creators: CREATORS,
  vmList: { requests: listMs.length, perSecond: Math.round(listMs.length / SECONDS), p50: pct(listMs, 50), p99: pct(listMs, 99), max: pct(listMs, 100), errors: listErrors },
  createDelete: { cycles, createP50: pct(createMs, 50), createP99: pct(createMs, 99), errors: createErrors },
  nodeSync: { requests: syncMs.length, p50: pct(syncMs, 50), p99: pct(syncMs, 99), max: pct(syncMs, 100) },
  node: { samples, downSamples: downSamples.length, markedDown: downSamples.length > 0, firstDown: downSamples.slice(0, 5) },
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
const all = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as Record<string, unknown>) : {};
all[label] = result;
writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
await deps.db.$disconnect();
process.exit(0);
