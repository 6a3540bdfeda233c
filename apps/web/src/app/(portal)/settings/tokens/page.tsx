"use client";
// API tokens for scripts and the vdi CLI: the user's own tokens, a create form, revoke.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import { CreateApiTokenForm } from "@/components/create-api-token-form";

const STATUS_CLASS = { active: "state-running", expired: "state-stopped", revoked: "state-error" } as const;

export default function ApiTokensPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const tokens = useQuery(trpc.apiToken.list.queryOptions());
  const revoke = useMutation(trpc.apiToken.revoke.mutationOptions({
    onSuccess: () => void qc.invalidateQueries({ queryKey: trpc.apiToken.list.queryKey() }),
  }));
  return (
    <div className="vms">
      <section>
        <h1>API tokens</h1>
        <p className="muted">
          Tokens let scripts and the <code>vdi</code> command-line tool call the API as you, limited to their scopes.
          Send one as <code>Authorization: Bearer vdi_…</code>.
        </p>
        {tokens.error && <p className="error" role="alert">{errorMessage(tokens.error)}</p>}
        {revoke.error && <p className="error" role="alert">{errorMessage(revoke.error)}</p>}
        {tokens.data?.length === 0 && <p className="muted">No tokens yet.</p>}
        {tokens.data && tokens.data.length > 0 && (
          <table aria-label="API tokens">
            <thead>
              <tr><th>Name</th><th>Prefix</th><th>Scopes</th><th>Expires</th><th>Last used</th><th>Status</th><th>Actions</th></tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id} data-token={t.name}>
                  <td>{t.name}</td>
                  <td><code>vdi_{t.prefix}_…</code></td>
                  <td>{t.scopes.map((s) => <code key={s} className="badge">{s}</code>)}</td>
                  <td>{new Date(t.expiresAt).toLocaleDateString()}</td>
                  <td>{t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : "never"}</td>
                  <td>
                    <span className={`badge ${STATUS_CLASS[t.status]}`}>{t.status}</span>
                    {t.revokedAt && <small className="muted"> {new Date(t.revokedAt).toLocaleString()}</small>}
                  </td>
                  <td>
                    {t.status === "active" && (
                      <button className="danger" disabled={revoke.isPending}
                        onClick={() => window.confirm(`Revoke "${t.name}"? Scripts using it stop working at once.`) && revoke.mutate({ tokenId: t.id })}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <aside><CreateApiTokenForm /></aside>
    </div>
  );
}
