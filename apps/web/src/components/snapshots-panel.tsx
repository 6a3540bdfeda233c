"use client";
// The VM's snapshots as a tree: take one (with memory or disk only), go back to any of them,
// delete one, clone a new VM or make a template from one. "You are here" marks the VM's position.
import { useState, type FormEvent } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@vdi/api/client";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";
import type { Vm } from "./vm-state";

type Snap = inferRouterOutputs<AppRouter>["snapshot"]["list"]["snapshots"][number];

export function formatBytes(bytes: number) {
  return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** Depth-first order with each snapshot's depth, children by time. */
function flatten(snaps: Snap[]): { s: Snap; depth: number }[] {
  const ids = new Set(snaps.map((s) => s.id));
  const kids = new Map<string | null, Snap[]>();
  for (const s of snaps) {
    const p = s.parentId && ids.has(s.parentId) ? s.parentId : null;
    kids.set(p, [...(kids.get(p) ?? []), s]);
  }
  const out: { s: Snap; depth: number }[] = [];
  const walk = (p: string | null, depth: number) => { for (const s of kids.get(p) ?? []) { out.push({ s, depth }); walk(s.id, depth + 1); } };
  walk(null, 0);
  return out;
}

export function SnapshotsPanel({ vm }: { vm: Vm }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const router = useRouter();
  const list = useQuery(trpc.snapshot.list.queryOptions({ vmId: vm.id }, { refetchInterval: 3000 }));
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.snapshot.list.queryKey({ vmId: vm.id }) });
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  // What the VM's engine allows comes from the API (packages/node-protocol/src/engines.ts).
  const isMicroVm = vm.template.traits.snapshotsHoldMemory;
  const live = vm.state === "running" || vm.state === "paused";
  const [withRam, setWithRam] = useState(true);
  const take = useMutation(trpc.snapshot.create.mutationOptions({ onSuccess: () => { setName(""); setDescription(""); refresh(); } }));
  const restore = useMutation(trpc.snapshot.restore.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.snapshot.delete.mutationOptions({ onSuccess: refresh }));
  const clone = useMutation(trpc.snapshot.clone.mutationOptions({ onSuccess: (r) => router.push(`/vms/${r.vmId}?op=${r.operationId}`) }));
  const template = useMutation(trpc.template.fromVm.mutationOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  // A platform admin is asked whether the template is for every tenant; others make it for theirs.
  const templateScope = () => (me.data?.role === "admin" && window.confirm("Make this template available to every tenant? (Cancel: only this tenant)") ? "global" : "tenant");
  const fields = fieldErrors(take.error);
  const failed = [take, restore, remove, clone, template].find((m) => m.error);
  const ram = isMicroVm || (live && withRam);

  function submit(e: FormEvent) {
    e.preventDefault();
    take.mutate({ vmId: vm.id, name, ...(description ? { description } : {}), withRam: ram });
  }
  const rows = flatten(list.data?.snapshots ?? []);
  const current = list.data?.currentSnapshotId ?? null;

  return (
    <section className="card snapshots" aria-label="Snapshots">
      <h2>Snapshots</h2>
      <form onSubmit={submit} className="inline-form">
        <label className="inline">Name <input value={name} onChange={(e) => setName(e.target.value)} maxLength={80} placeholder="before upgrade" /></label>
        <label className="inline">Description <input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={500} placeholder="optional" /></label>
        {!isMicroVm && (
          <label className="inline" title={live ? "Memory and devices too: going back resumes exactly there" : "A stopped VM has no memory to keep"}>
            <input type="checkbox" checked={ram} disabled={!live} onChange={(e) => setWithRam(e.target.checked)} /> Include memory
          </label>
        )}
        <button type="submit" disabled={!vm.actions.includes("snapshot") || take.isPending}>Take snapshot</button>
        {fields.name && <span className="field-error" role="alert">{fields.name}</span>}
        {fields.description && <span className="field-error" role="alert">{fields.description}</span>}
      </form>
      {failed && !fields.name && <p className="error" role="alert">{errorMessage(failed.error)}</p>}
      {template.data && <p className="muted" role="status">Template being made; it appears in the template list when the node has written it.</p>}
      {rows.length === 0 && <p className="muted">No snapshots yet. {isMicroVm ? "A microVM snapshot keeps memory and devices: going back resumes exactly there." : "A snapshot keeps the disk, and with “Include memory” the running state too."}</p>}
      {rows.length > 0 && (
        <table aria-label="Snapshot tree">
          <thead><tr><th>Snapshot</th><th>Kind</th><th>Taken</th><th>Size</th><th /></tr></thead>
          <tbody>
            {rows.map(({ s, depth }) => (
              <tr key={s.id} data-testid="snapshot-row" aria-current={s.id === current ? "true" : undefined}>
                <td style={{ paddingLeft: `${0.7 + depth * 1.4}rem` }}>
                  {depth > 0 && <span className="muted" aria-hidden>└ </span>}
                  <strong>{s.name}</strong>
                  {s.id === current && <span className="badge here" title="The VM descends from this snapshot"> you are here</span>}
                  {s.description && <div className="muted">{s.description}</div>}
                  {s.clones.length > 0 && <div className="muted">clones: {s.clones.map((c) => `${c.name} (${c.mode})`).join(", ")}</div>}
                </td>
                <td>{s.includesRam ? "memory + disk" : "disk only"}</td>
                <td>{new Date(s.createdAt).toLocaleString()}</td>
                <td>{s.status === "ready" ? formatBytes(s.sizeBytes) : s.status === "creating" ? "saving…" : "deleting…"}</td>
                <td className="actions">
                  <button className="secondary" disabled={s.status !== "ready" || !vm.actions.includes("restore") || (!s.includesRam && live) || restore.isPending}
                    title={!s.includesRam && live ? "Disk-only snapshot: stop the VM first" : undefined}
                    onClick={() => window.confirm(`Go back to "${s.name}"? What changed since is lost unless you take a snapshot first.`) && restore.mutate({ snapshotId: s.id })}>Revert</button>
                  <button className="secondary" disabled={s.status !== "ready" || clone.isPending}
                    onClick={() => {
                      const n = window.prompt("Name of the new VM", `${vm.name}-clone`);
                      if (!n) return;
                      const mode = isMicroVm ? "linked" : window.confirm("Linked clone (shares this snapshot's disk, instant)? Cancel for a full, independent copy.") ? "linked" : "full";
                      clone.mutate({ snapshotId: s.id, name: n, mode });
                    }}>Clone</button>
                  {!isMicroVm && (
                    <button className="secondary" disabled={s.status !== "ready" || template.isPending}
                      onClick={() => { const t = window.prompt("Template name", `${vm.name} ${s.name}`); if (t) template.mutate({ vmId: vm.id, snapshotId: s.id, title: t, scope: templateScope() }); }}>Make template</button>
                  )}
                  <button className="danger" disabled={s.status !== "ready" || !vm.actions.includes("snapshot-delete") || remove.isPending}
                    onClick={() => window.confirm(`Delete snapshot "${s.name}"? Later snapshots keep what they need.`) && remove.mutate({ snapshotId: s.id })}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
