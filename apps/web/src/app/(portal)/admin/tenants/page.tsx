"use client";
// Platform administrators: every tenant, its usage and quotas; new tenants and their first admins.
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
  // An invitation into any tenant: how a new tenant gets its first tenant admin.
  const invite = useMutation(trpc.tenant.invite.mutationOptions());
  const [inviteTenant, setInviteTenant] = useState("");
  const [inviteEmail, setInviteEmail] = useState("");
  if (tenants.error) return <p className="error" role="alert">{errorMessage(tenants.error)}</p>;
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ slug, name }, { onSuccess: () => { setSlug(""); setName(""); } });
  }
  function submitInvite(e: FormEvent) {
    e.preventDefault();
    invite.mutate({ tenantId: inviteTenant, email: inviteEmail, role: "tenant_admin" }, { onSuccess: () => setInviteEmail("") });
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
      <form onSubmit={submitInvite} className="inline-form card" aria-label="Invite a tenant admin">
        <label className="inline">Tenant{" "}
          <select value={inviteTenant} onChange={(e) => setInviteTenant(e.target.value)} required>
            <option value="">Choose…</option>
            {tenants.data?.map((t) => <option key={t.id} value={t.id}>{t.name} ({t.slug})</option>)}
          </select>
        </label>
        <label className="inline">Admin&apos;s email <input type="email" value={inviteEmail} onChange={(e) => setInviteEmail(e.target.value)} required /></label>
        <button type="submit" disabled={invite.isPending}>Invite tenant admin</button>
        {invite.error && <span className="error" role="alert">{errorMessage(invite.error)}</span>}
        {invite.data && (
          <p role="status" data-testid="admin-invite-link">
            Send this link to {invite.data.email} (shown once, valid 7 days): <code>{`${window.location.origin}${invite.data.path}`}</code>
          </p>
        )}
      </form>
    </div>
  );
}
