"use client";
// Accepting an invitation: the link's secret is the credential; set a name and a password.
import { use, useState, type FormEvent } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";

export default function InvitePage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = use(params);
  const trpc = useTRPC();
  const router = useRouter();
  const inv = useQuery(trpc.tenant.invitation.queryOptions({ token }, { retry: false }));
  const accept = useMutation(trpc.tenant.acceptInvitation.mutationOptions({ onSuccess: () => router.replace("/vms") }));
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const fields = fieldErrors(accept.error);
  function submit(e: FormEvent) {
    e.preventDefault();
    accept.mutate({ token, name, password });
  }
  return (
    <main className="login">
      <form onSubmit={submit} className="card" aria-label="Accept invitation">
        <h1>Join {inv.data?.tenant ?? "…"}</h1>
        {inv.error && <p className="error" role="alert">{errorMessage(inv.error)}</p>}
        {inv.data && (
          <>
            <p className="muted">Invitation for {inv.data.email} as {inv.data.role === "tenant_admin" ? "tenant admin" : "user"}.</p>
            <label>Your name <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />{fields.name && <span className="field-error">{fields.name}</span>}</label>
            <label>Password <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={12} maxLength={128} />{fields.password && <span className="field-error">{fields.password}</span>}</label>
            {accept.error && Object.keys(fields).length === 0 && <p className="error" role="alert">{errorMessage(accept.error)}</p>}
            <button type="submit" disabled={accept.isPending}>Join</button>
          </>
        )}
      </form>
    </main>
  );
}
