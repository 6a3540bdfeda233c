"use client";
// Create an API token: name, scopes, expiry. The full token is shown here once, with a copy button.
import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { API_TOKEN_SCOPES, API_TOKEN_SCOPE_DESCRIPTIONS, type ApiTokenScope } from "@vdi/api/client";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";

export function CreateApiTokenForm() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<ApiTokenScope[]>(["vm:read"]);
  const [days, setDays] = useState(30);
  const [copied, setCopied] = useState(false);
  const create = useMutation(trpc.apiToken.create.mutationOptions({
    onSuccess: () => {
      setName("");
      setCopied(false);
      void qc.invalidateQueries({ queryKey: trpc.apiToken.list.queryKey() });
    },
  }));
  const fields = fieldErrors(create.error);
  const shown = create.data?.token;

  function toggle(scope: ApiTokenScope, on: boolean) {
    setScopes((s) => (on ? [...s, scope] : s.filter((x) => x !== scope)));
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ name, scopes, expiresInDays: days });
  }

  async function copy() {
    if (!shown) return;
    await window.navigator.clipboard.writeText(shown);
    setCopied(true);
  }

  return (
    <form onSubmit={submit} className="card create" aria-label="Create an API token">
      <h2>New API token</h2>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="backup script" maxLength={64} required />
        {fields.name && <span className="field-error" role="alert">{fields.name}</span>}
      </label>
      <fieldset className="scopes">
        <legend>Scopes</legend>
        {API_TOKEN_SCOPES.map((s) => (
          <label key={s} className="inline" title={API_TOKEN_SCOPE_DESCRIPTIONS[s]}>
            <input type="checkbox" checked={scopes.includes(s)} onChange={(e) => toggle(s, e.target.checked)} />
            <code>{s}</code> <small className="muted">{API_TOKEN_SCOPE_DESCRIPTIONS[s]}</small>
          </label>
        ))}
        {fields.scopes && <span className="field-error" role="alert">{fields.scopes}</span>}
      </fieldset>
      <label>
        Expires after (days)
        <input type="number" value={days} min={1} max={365} onChange={(e) => setDays(Number(e.target.value))} />
        {fields.expiresInDays && <span className="field-error" role="alert">{fields.expiresInDays}</span>}
      </label>
      {create.error && Object.keys(fields).length === 0 && <p className="error" role="alert">{errorMessage(create.error)}</p>}
      <button type="submit" disabled={create.isPending || scopes.length === 0}>{create.isPending ? "Creating…" : "Create token"}</button>
      {shown && (
        <div className="token-once" role="status">
          <p><strong>Copy this token now.</strong> It is shown only once; the portal keeps only its hash.</p>
          <code className="secret" aria-label="New API token">{shown}</code>
          <button type="button" className="secondary" onClick={() => void copy()}>{copied ? "Copied" : "Copy"}</button>
        </div>
      )}
    </form>
  );
}
