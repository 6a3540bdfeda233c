"use client";
// Seat sessions (docs/seating.md): who sits where, connected or gone since when; a tenant admin
// disconnects or logs off a session, or watches it (helpdesk shadowing): view only until the user
// gives control at the seat, who sees a banner all along. Every step is in the audit trail.
import { useCallback, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import { VmConsole } from "@/components/vm-console";

const ago = (d: string | Date) => {
  const s = Math.max(0, Math.round((Date.now() - new Date(d).getTime()) / 1000));
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
};

export default function SessionsPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const sessions = useQuery({ ...trpc.session.list.queryOptions(), refetchInterval: 5_000 });
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.session.list.queryKey() });
  const end = useMutation(trpc.session.end.mutationOptions({ onSuccess: refresh }));
  const shadow = useMutation(trpc.session.shadow.mutationOptions({ onSuccess: (r) => { setWatching(r.shadowId); refresh(); } }));
  const [watching, setWatching] = useState<string | null>(null);
  if (sessions.error) return <p className="error" role="alert">{errorMessage(sessions.error)}</p>;
  const rows = sessions.data ?? [];
  const watched = watching ? rows.find((r) => r.shadow?.mine && r.shadow.shadowId === watching) ?? rows.find((r) => r.shadow?.mine) : null;
  return (
    <div className="admin">
      <h1>Sessions</h1>
      {watching && <ShadowView key={watching} shadowId={watching} vm={watched?.vm ?? null} user={watched?.user ?? ""} onDone={() => { setWatching(null); refresh(); }} />}
      <section className="card" aria-label="Seat sessions">
        {(end.error ?? shadow.error) && <p className="error" role="alert">{errorMessage(end.error ?? shadow.error)}</p>}
        <table>
          <thead><tr><th>User</th><th>Seat</th><th>Desktop</th><th>Pool</th><th>State</th><th>Helpdesk</th><th /></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.sessionId} data-session={r.sessionId} data-user={r.user} data-state={r.state}>
                <td>{r.user}</td>
                <td>{r.seat}{r.location ? <span className="muted"> · {r.location}</span> : null}</td>
                <td>{r.vm ? `${r.vm.name} (${r.vm.actualState})` : <span className="muted">deleted</span>}</td>
                <td>{r.pool ? `${r.pool.name} (${r.pool.policy})` : <span className="muted">own desktop</span>}</td>
                <td data-testid="session-state">
                  {r.state === "connected" ? `connected for ${ago(r.startedAt)}`
                    : r.state === "disconnected" ? `disconnected for ${ago(r.since)}`
                    : `ended ${ago(r.since)} ago: ${r.endReason ?? ""}`}
                </td>
                <td>{r.shadow ? `${r.shadow.by}${r.shadow.control ? " (in control)" : r.shadow.controlAsked ? " (asked for control)" : " (watching)"}` : ""}</td>
                <td className="actions">
                  {r.state !== "ended" && (
                    <>
                      {r.vm && (r.vm.actualState === "running" || r.vm.actualState === "paused") && (!r.shadow || r.shadow.mine) && (
                        <button onClick={() => shadow.mutate({ sessionId: r.sessionId })}>Shadow</button>
                      )}
                      <button className="secondary" onClick={() => end.mutate({ sessionId: r.sessionId, how: "disconnect" })}>Disconnect</button>
                      <button className="danger" onClick={() => { if (window.confirm(`Log ${r.user} off? Their desktop session ends.`)) end.mutate({ sessionId: r.sessionId, how: "logoff" }); }}>Log off</button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <p className="muted">No seat sessions in the last day.</p>}
      </section>
    </div>
  );
}

/** The admin's view of a watched session: view only until the user gives control; each grant is its own console. */
function ShadowView({ shadowId, vm, user, onDone }: { shadowId: string; vm: { id: string; consoles: ("vnc" | "rdp")[] } | null; user: string; onDone: () => void }) {
  const trpc = useTRPC();
  const state = useQuery({ ...trpc.session.shadowState.queryOptions({ shadowId }), refetchInterval: 2_000 });
  const console_ = useMutation(trpc.session.shadowConsole.mutationOptions());
  const ask = useMutation(trpc.session.askControl.mutationOptions({ onSuccess: () => void state.refetch() }));
  const stop = useMutation(trpc.session.endShadow.mutationOptions({ onSuccess: onDone }));
  const grant = state.data?.shadowId ?? shadowId;
  const openUrl = useCallback(async () => (await console_.mutateAsync({ shadowId: grant })).url, [grant]);
  // A grant that ended (control given or taken back) closes its console: the next one opens.
  const onClosed = useCallback((code: number) => { if (code === 4435) void state.refetch(); }, [state]);
  const s = state.data;
  return (
    <section className="card shadow-view" aria-label="Shadow">
      <h2>Watching {user}</h2>
      {s?.ended ? (
        <p role="status" data-testid="shadow-status">The helpdesk session ended: {s.ended}. <button className="secondary" onClick={onDone}>Close</button></p>
      ) : (
        <>
          <p role="status" data-testid="shadow-status">
            {s?.control ? "You have control: the user sees a banner and can take it back." : s?.controlAsked ? "Waiting for the user to give control…" : "View only: the user sees a banner."}
          </p>
          <div className="actions">
            {!s?.control && <button onClick={() => ask.mutate({ shadowId: grant })} disabled={!s || s.controlAsked}>Ask for control</button>}
            <button className="danger" onClick={() => stop.mutate({ shadowId: grant })}>Stop watching</button>
          </div>
          {(ask.error ?? stop.error) && <p className="error" role="alert">{errorMessage(ask.error ?? stop.error)}</p>}
          {vm && s && <VmConsole key={grant} vmId={vm.id} running protocols={vm.consoles.slice(0, 1)} openUrl={openUrl} onClosed={onClosed} viewOnly={!s.control} keepSize />}
        </>
      )}
    </section>
  );
}
