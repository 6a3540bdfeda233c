"use client";
// Snapshots of a microVM: take one, restore one, or clone a new VM from one.
import { useState, type FormEvent } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";
import type { Vm } from "./vm-state";

function size(bytes: number) {
  return bytes > 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

export function SnapshotsPanel({ vm }: { vm: Vm }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const router = useRouter();
  const snapshots = useQuery(trpc.snapshot.list.queryOptions({ vmId: vm.id }, { refetchInterval: 3000 }));
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.snapshot.list.queryKey({ vmId: vm.id }) });
  const [name, setName] = useState("");
  const take = useMutation(trpc.snapshot.create.mutationOptions({ onSuccess: () => { setName(""); refresh(); } }));
  const restore = useMutation(trpc.snapshot.restore.mutationOptions());
  const clone = useMutation(trpc.snapshot.clone.mutationOptions({ onSuccess: (r) => router.push(`/vms/${r.vmId}?op=${r.operationId}`) }));
  const fields = fieldErrors(take.error);
  const failed = [take, restore, clone].find((m) => m.error);

  function submit(e: FormEvent) {
    e.preventDefault();
    take.mutate({ vmId: vm.id, name });
  }

  return (
    <section className="card snapshots" aria-label="Snapshots">
      <h2>Snapshots</h2>
      <form onSubmit={submit} className="inline-form">
        <label className="inline">Name <input value={name} onChange={(e) => setName(e.target.value)} maxLength={80} placeholder="before upgrade" /></label>
        <button type="submit" disabled={!vm.actions.includes("snapshot") || take.isPending}>Take snapshot</button>
        {fields.name && <span className="field-error" role="alert">{fields.name}</span>}
      </form>
      {failed && !fields.name && <p className="error" role="alert">{errorMessage(failed.error)}</p>}
      {snapshots.data?.length === 0 && <p className="muted">No snapshots yet. A snapshot keeps memory and devices: restoring it resumes exactly there.</p>}
      {!!snapshots.data?.length && (
        <table aria-label="Snapshots">
          <thead><tr><th>Name</th><th>Taken</th><th>Size</th><th /></tr></thead>
          <tbody>
            {snapshots.data.map((s) => (
              <tr key={s.id}>
                <td>{s.name}</td>
                <td>{new Date(s.createdAt).toLocaleString()}</td>
                <td>{s.status === "ready" ? size(s.sizeBytes) : "saving…"}</td>
                <td className="actions">
                  <button className="secondary" disabled={s.status !== "ready" || !vm.actions.includes("restore") || restore.isPending}
                    onClick={() => restore.mutate({ snapshotId: s.id })}>Restore</button>
                  <button className="secondary" disabled={s.status !== "ready" || clone.isPending}
                    onClick={() => {
                      const n = window.prompt("Name of the new VM", `${vm.name}-clone`);
                      if (n) clone.mutate({ snapshotId: s.id, name: n });
                    }}>Clone</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
