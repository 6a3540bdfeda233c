"use client";
// Tenant administration: members (role, access, limits), invitations, quota usage.
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";
import { UsageBox } from "@/components/usage-box";
import { LIMIT_FIELDS, MemberLimitsForm } from "@/components/member-limits-form";

export default function TenantPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const me = useQuery(trpc.auth.me.queryOptions());
  const members = useQuery(trpc.tenant.members.queryOptions({}));
  const invitations = useQuery(trpc.tenant.invitations.queryOptions());
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.tenant.pathKey() });
  const setRole = useMutation(trpc.tenant.setRole.mutationOptions({ onSuccess: refresh }));
  const setAccess = useMutation(trpc.tenant.setAccess.mutationOptions({ onSuccess: refresh }));
  const invite = useMutation(trpc.tenant.invite.mutationOptions({ onSuccess: refresh }));
  const revoke = useMutation(trpc.tenant.revokeInvitation.mutationOptions({ onSuccess: refresh }));
  const [email, setEmail] = useState("");
  const [role, setInviteRole] = useState<"user" | "tenant_admin">("user");
  const [editing, setEditing] = useState<string | null>(null);
  const fields = fieldErrors(invite.error);
  const failed = [setRole, setAccess, revoke].find((m) => m.error);

  if (members.error) return <p className="error" role="alert">{errorMessage(members.error)}</p>;
  function submit(e: FormEvent) {
    e.preventDefault();
    invite.mutate({ email, role }, { onSuccess: () => setEmail("") });
  }
  return (
    <div className="admin">
      <h1>Tenant</h1>
      <UsageBox />
      <section className="card" aria-label="Members">
        <h2>Members</h2>
        {failed && <p className="error" role="alert">{errorMessage(failed.error)}</p>}
        <table>
          <thead><tr><th>Name</th><th>Email</th><th>Role</th><th>VMs</th><th>Limits (used / limit)</th><th>2FA</th><th>Access</th></tr></thead>
          <tbody>
            {members.data?.map((u) => [
              <tr key={u.id} data-member={u.email}>
                <td>{u.name}</td>
                <td>{u.email}</td>
                <td>
                  {u.role === "admin" || u.id === me.data?.userId ? u.role : (
                    <select aria-label={`Role of ${u.email}`} value={u.role} onChange={(e) => setRole.mutate({ userId: u.id, role: e.target.value as "user" | "tenant_admin" })}>
                      <option value="user">user</option>
                      <option value="tenant_admin">tenant admin</option>
                    </select>
                  )}
                </td>
                <td>{u.vms}</td>
                <td data-limits={u.email}>
                  {LIMIT_FIELDS.filter(([k]) => u.limits[k] !== null).map(([k, label, unit]) => (
                    <span key={k} className="badge">{label} {u.used[k]}{unit} / {u.limits[k]}{unit}</span>
                  ))}
                  {LIMIT_FIELDS.every(([k]) => u.limits[k] === null) && <span className="muted">tenant quota only</span>}{" "}
                  {u.role !== "admin" && editing !== u.id && <button className="secondary" onClick={() => setEditing(u.id)}>Edit limits</button>}
                </td>
                <td>{u.twoFactorEnabled ? "on" : "off"}</td>
                <td>
                  {u.disabledAt ? <span className="badge state-error">revoked</span> : <span className="badge state-running">active</span>}{" "}
                  {u.id !== me.data?.userId && u.role !== "admin" && (
                    <button className={u.disabledAt ? "secondary" : "danger"}
                      onClick={() => (u.disabledAt || window.confirm(`Revoke access for ${u.email}? Their sessions, tokens and consoles end now.`)) && setAccess.mutate({ userId: u.id, enabled: !!u.disabledAt })}>
                      {u.disabledAt ? "Restore access" : "Revoke access"}
                    </button>
                  )}
                </td>
              </tr>,
              editing === u.id && (
                <tr key={`${u.id}-limits`}>
                  <td colSpan={7}><MemberLimitsForm userId={u.id} email={u.email} limits={u.limits} onDone={() => setEditing(null)} /></td>
                </tr>
              ),
            ])}
          </tbody>
        </table>
        <p className="muted">A member&apos;s limits apply inside the tenant&apos;s quota, to the VMs they own: their creates and clones, and any resize of those VMs.</p>
      </section>
      <section className="card" aria-label="Invitations">
        <h2>Invitations</h2>
        <form onSubmit={submit} className="inline-form">
          <label className="inline">Email <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required maxLength={254} /></label>
          <label className="inline">Role
            <select value={role} onChange={(e) => setInviteRole(e.target.value as "user" | "tenant_admin")}>
              <option value="user">user</option>
              <option value="tenant_admin">tenant admin</option>
            </select>
          </label>
          <button type="submit" disabled={invite.isPending}>Invite</button>
          {fields.email && <span className="field-error" role="alert">{fields.email}</span>}
        </form>
        {invite.error && !fields.email && <p className="error" role="alert">{errorMessage(invite.error)}</p>}
        {invite.data && (
          <p role="status" data-testid="invite-link">
            Send this link to {invite.data.email} (shown once, valid 7 days): <code>{`${window.location.origin}${invite.data.path}`}</code>
          </p>
        )}
        <table>
          <thead><tr><th>Email</th><th>Role</th><th>Status</th><th /></tr></thead>
          <tbody>
            {invitations.data?.map((i) => (
              <tr key={i.id}>
                <td>{i.email}</td>
                <td>{i.role}</td>
                <td>{i.acceptedAt ? "accepted" : new Date(i.expiresAt) < new Date() ? "expired" : `open until ${new Date(i.expiresAt).toLocaleDateString()}`}</td>
                <td>{!i.acceptedAt && <button className="secondary" onClick={() => revoke.mutate({ invitationId: i.id })}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
