"use client";
// Platform administrators: every tenant, its usage and quotas; new tenants.
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";

const KEYS = ["vms", "vcpus", "memoryMiB", "diskGiB", "snapshots"] as const;

export default function TenantsPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const tenants = useQuery(trpc.tenant.list.queryOptions());
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.tenant.list.queryKey() });
  const setQuotas = useMutation(trpc.tenant.setQuotas.mutationOptions({ onSuccess: refresh }));
  const create = useMutation(trpc.tenant.create.mutationOptions({ onSuccess: refresh }));
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const fields = fieldErrors(create.error);
  if (tenants.error) return <p className="error" role="alert">{errorMessage(tenants.error)}</p>;
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ slug, name }, { onSuccess: () => { setSlug(""); setName(""); } });
  }
  return (
    <div className="admin">
      <h1>Tenants</h1>
      {setQuotas.error && <p className="error" role="alert">{errorMessage(setQuotas.error)}</p>}
      <table aria-label="Tenants">
        <thead><tr><th>Tenant</th>{KEYS.map((k) => <th key={k}>{k}: used / quota</th>)}</tr></thead>
        <tbody>
          {tenants.data?.map((t) => (
            <tr key={t.id} data-tenant={t.slug}>
              <td>{t.name} <span className="muted">({t.slug})</span></td>
              {KEYS.map((k) => (
                <td key={k}>
                  {t.used[k]} /{" "}
                  <input type="number" min={0} defaultValue={t.limits[k]} aria-label={`${k} quota of ${t.slug}`} style={{ width: "6rem" }}
                    onBlur={(e) => { const v = Number(e.target.value); if (v !== t.limits[k]) setQuotas.mutate({ tenantId: t.id, [k]: v }); }} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <form onSubmit={submit} className="inline-form card" aria-label="New tenant">
        <label className="inline">Slug <input value={slug} onChange={(e) => setSlug(e.target.value)} required /></label>
        <label className="inline">Name <input value={name} onChange={(e) => setName(e.target.value)} required /></label>
        <button type="submit" disabled={create.isPending}>Create tenant</button>
        {Object.values(fields).map((m) => <span key={m} className="field-error" role="alert">{m}</span>)}
        {create.error && Object.keys(fields).length === 0 && <span className="error" role="alert">{errorMessage(create.error)}</span>}
      </form>
    </div>
  );
}
