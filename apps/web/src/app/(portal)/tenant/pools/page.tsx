"use client";
// Desktop pools (docs/seating.md): a tenant admin makes pools (a template, a policy, sizes and the
// two timers) and sees each one's desktops and its login-time breakdown, as Citrix Director
// shows it: p50 and p95 of each phase, and the last logins as stacked bars (recharts).
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useTRPC, errorMessage } from "@/lib/trpc";

type Breakdown = {
  logins: number;
  phases: Record<"authMs" | "brokerMs" | "startMs" | "firstFrameMs", { p50: number | null; p95: number | null; n: number }>;
  total: { p50: number | null; p95: number | null; n: number };
  recent: Array<{ at: string | Date; path: string; authMs: number; brokerMs: number; startMs: number | null; firstFrameMs: number | null }>;
};

const ms = (v: number | null) => (v === null ? "–" : v < 10_000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);

export default function PoolsPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const pools = useQuery(trpc.pool.list.queryOptions(undefined, { refetchInterval: 5_000 }));
  const templates = useQuery(trpc.template.list.queryOptions());
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.pool.list.queryKey() });
  const create = useMutation(trpc.pool.create.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.pool.delete.mutationOptions({ onSuccess: refresh }));
  const [f, setF] = useState({ name: "", templateId: "", policy: "persistent" as "persistent" | "nonpersistent", warmSize: 1, maxSize: 10, perUserLimit: 1, disconnectMinutes: 15, idleLogoffMinutes: 60 });
  const num = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: Number(e.target.value) });

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ ...f, templateId: f.templateId || templates.data?.[0]?.id || "" });
  }
  if (pools.error) return <p className="error" role="alert">{errorMessage(pools.error)}</p>;
  return (
    <div className="admin">
      <h1>Desktop pools</h1>
      <form onSubmit={submit} className="card create" aria-label="Create a pool">
        <h2>New pool</h2>
        <label>Name <input value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} maxLength={48} required /></label>
        <label>Template <select value={f.templateId} onChange={(e) => setF({ ...f, templateId: e.target.value })}>
          {templates.data?.map((t) => <option key={t.id} value={t.id}>{t.title}</option>)}
        </select></label>
        <label>Policy <select value={f.policy} onChange={(e) => setF({ ...f, policy: e.target.value as typeof f.policy })}>
          <option value="persistent">Persistent: each user keeps their own desktop</option>
          <option value="nonpersistent">Non-persistent: a fresh desktop from the warm set, thrown away at logout</option>
        </select></label>
        <label>Warm desktops <input type="number" min={0} max={1000} value={f.warmSize} onChange={num("warmSize")} /></label>
        <label>Most desktops <input type="number" min={1} max={1000} value={f.maxSize} onChange={num("maxSize")} /></label>
        <label>Per user <input type="number" min={1} max={10} value={f.perUserLimit} onChange={num("perUserLimit")} /></label>
        <label>Disconnect timer (minutes) <input type="number" min={0} value={f.disconnectMinutes} onChange={num("disconnectMinutes")} /></label>
        <label>Idle logoff (minutes) <input type="number" min={1} value={f.idleLogoffMinutes} onChange={num("idleLogoffMinutes")} /></label>
        {create.error && <p className="error" role="alert">{errorMessage(create.error)}</p>}
        <button type="submit" disabled={create.isPending}>Create pool</button>
      </form>
      {remove.error && <p className="error" role="alert">{errorMessage(remove.error)}</p>}
      {pools.data?.pools.map((p) => (
        <section key={p.poolId} className="card" aria-label={`Pool ${p.name}`} data-pool={p.name}>
          <h2>{p.name} <span className="muted">· {p.template} · {p.policy === "persistent" ? "persistent" : "non-persistent"}</span></h2>
          <p data-testid="pool-desktops">
            {p.desktops.warm} warm · {p.desktops.assigned} in use ({p.desktops.suspended} suspended, {p.desktops.stopped} stopped) · {p.desktops.resetting} being reset · at most {p.maxSize} (warm set {p.warmSize}) ·
            disconnect timer {p.disconnectMinutes} min · idle logoff {p.idleLogoffMinutes} min · seats: {p.seats.length ? p.seats.join(", ") : "none"}
          </p>
          <LoginTimes b={p.loginTimes as Breakdown} />
          <button className="danger" onClick={() => { if (window.confirm(`Delete pool "${p.name}" and its unused desktops?`)) remove.mutate({ poolId: p.poolId }); }}>Delete pool</button>
        </section>
      ))}
      {pools.data && (
        <section className="card" aria-label="Seats without a pool">
          <h2>Seats without a pool <span className="muted">· the user&apos;s own desktop</span></h2>
          <LoginTimes b={pools.data.ownDesktops as Breakdown} />
        </section>
      )}
    </div>
  );
}

function LoginTimes({ b }: { b: Breakdown }) {
  if (b.logins === 0) return <p className="muted">No logins yet.</p>;
  const rows = [
    ["Authentication", b.phases.authMs], ["Brokering", b.phases.brokerMs], ["VM start or restore", b.phases.startMs], ["Whole login, to the first frame", b.total],
  ] as const;
  // Each login's bar: its phases stacked; what is left of the whole login is the console's connect and first frame.
  const data = b.recent.map((r, i) => {
    const start = r.startMs ?? 0;
    return { n: i + 1, path: r.path, auth: r.authMs, broker: r.brokerMs, start, frame: r.firstFrameMs === null ? 0 : Math.max(0, r.firstFrameMs - r.authMs - r.brokerMs - start) };
  });
  return (
    <div className="login-times">
      <table data-testid="login-times">
        <thead><tr><th>Phase ({b.logins} logins)</th><th>p50</th><th>p95</th></tr></thead>
        <tbody>{rows.map(([label, s]) => <tr key={label}><td>{label}</td><td>{ms(s.p50)}</td><td>{ms(s.p95)}</td></tr>)}</tbody>
      </table>
      <div style={{ width: "100%", height: 220 }}>
        <ResponsiveContainer>
          <BarChart data={data}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="n" />
            <YAxis unit=" ms" width={80} />
            <Tooltip />
            <Legend />
            <Bar dataKey="auth" name="Authentication" stackId="t" fill="#6b8afd" />
            <Bar dataKey="broker" name="Brokering" stackId="t" fill="#f2a541" />
            <Bar dataKey="start" name="Start or restore" stackId="t" fill="#e4572e" />
            <Bar dataKey="frame" name="Console, first frame" stackId="t" fill="#29bf12" />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </div>
  );
}
