"use client";
// The audit trail: every state-changing call, filterable; platform admins see all tenants.
import { useState, type FormEvent } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";

type Filter = { actor?: string; action?: string; outcome?: "ok" | "denied" | "error"; targetId?: string; from?: string; to?: string };

export default function AuditPage() {
  const trpc = useTRPC();
  const [draft, setDraft] = useState<Filter>({});
  const [filter, setFilter] = useState<Filter>({});
  const clean = Object.fromEntries(Object.entries(filter).filter(([, v]) => v)) as Filter;
  const q = useInfiniteQuery(trpc.audit.list.infiniteQueryOptions(
    { ...clean, limit: 50 },
    { getNextPageParam: (last) => last.nextCursor ?? undefined },
  ));
  const events = q.data?.pages.flatMap((p) => p.events) ?? [];
  function submit(e: FormEvent) {
    e.preventDefault();
    setFilter(draft);
  }
  const field = (k: keyof Filter, label: string, type = "text") => (
    <label className="inline">{label} <input type={type} value={draft[k] ?? ""} onChange={(e) => setDraft({ ...draft, [k]: e.target.value })} /></label>
  );
  return (
    <div className="admin">
      <h1>Audit log</h1>
      <form onSubmit={submit} className="inline-form card" aria-label="Filter">
        {field("actor", "Who")}
        {field("action", "Action")}
        <label className="inline">Outcome
          <select value={draft.outcome ?? ""} onChange={(e) => setDraft({ ...draft, outcome: (e.target.value || undefined) as Filter["outcome"] })}>
            <option value="">any</option><option value="ok">ok</option><option value="denied">denied</option><option value="error">error</option>
          </select>
        </label>
        {field("targetId", "Target id")}
        {field("from", "From", "datetime-local")}
        {field("to", "To", "datetime-local")}
        <button type="submit">Filter</button>
      </form>
      {q.error && <p className="error" role="alert">{errorMessage(q.error)}</p>}
      <table aria-label="Audit events">
        <thead><tr><th>Time</th><th>Who</th><th>Via</th><th>Tenant</th><th>Action</th><th>Target</th><th>Outcome</th><th>IP</th><th>Detail</th></tr></thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} data-action={e.action} data-outcome={e.outcome}>
              <td>{new Date(e.at).toLocaleString()}</td>
              <td>{e.actorEmail ?? e.actorId ?? "—"}</td>
              <td>{e.via}</td>
              <td>{e.tenantId ?? "—"}</td>
              <td>{e.action}</td>
              <td>{e.targetType !== "none" ? `${e.targetType} ${e.targetId ?? ""}` : "—"}</td>
              <td className={e.outcome === "ok" ? "" : "error"}>{e.outcome}</td>
              <td>{e.ip ?? "—"}</td>
              <td className="muted">{e.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length === 0 && !q.isLoading && <p className="muted">No events match.</p>}
      {q.hasNextPage && <button className="secondary" onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>Older events</button>}
    </div>
  );
}
