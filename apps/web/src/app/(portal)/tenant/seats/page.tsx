"use client";
// Seats (docs/seating.md): a tenant admin registers the desks with thin clients. The seat's link
// (its kiosk URL with the seat's secret) is shown once, to open in the thin client's browser.
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";

export default function SeatsPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const seats = useQuery(trpc.seat.list.queryOptions());
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.seat.list.queryKey() });
  const register = useMutation(trpc.seat.register.mutationOptions({ onSuccess: () => { setName(""); setLocation(""); refresh(); } }));
  const revoke = useMutation(trpc.seat.revoke.mutationOptions({ onSuccess: refresh }));
  const setPool = useMutation(trpc.seat.setPool.mutationOptions({ onSuccess: refresh }));
  const pools = useQuery(trpc.pool.list.queryOptions());
  const [name, setName] = useState("");
  const [location, setLocation] = useState("");
  const [poolId, setPoolId] = useState("");
  const fields = fieldErrors(register.error);
  const link = register.data ? `${window.location.origin}${register.data.enrollPath}` : null;

  function submit(e: FormEvent) {
    e.preventDefault();
    register.mutate({ name, location, poolId: poolId || null });
  }
  if (seats.error) return <p className="error" role="alert">{errorMessage(seats.error)}</p>;
  return (
    <div className="admin">
      <h1>Seats</h1>
      <form onSubmit={submit} className="card create" aria-label="Register a seat">
        <h2>New seat</h2>
        <label>Name <input value={name} onChange={(e) => setName(e.target.value)} placeholder="Desk 4.12" maxLength={64} required />
          {fields.name && <span className="field-error" role="alert">{fields.name}</span>}</label>
        <label>Location <input value={location} onChange={(e) => setLocation(e.target.value)} placeholder="Floor 4, east" maxLength={200} /></label>
        <label>Desktop pool <select value={poolId} onChange={(e) => setPoolId(e.target.value)}>
          <option value="">None: the user&apos;s own desktop</option>
          {pools.data?.pools.map((p) => <option key={p.poolId} value={p.poolId}>{p.name}</option>)}
        </select></label>
        {register.error && !fields.name && <p className="error" role="alert">{errorMessage(register.error)}</p>}
        <button type="submit" disabled={register.isPending}>Register</button>
        {link && (
          <p role="status">
            Open this link once in the seat&apos;s browser (kiosk mode); it is not shown again:{" "}
            <code data-testid="seat-link">{link}</code>
          </p>
        )}
      </form>
      <section className="card" aria-label="Seats">
        {(revoke.error ?? setPool.error) && <p className="error" role="alert">{errorMessage(revoke.error ?? setPool.error)}</p>}
        <table>
          <thead><tr><th>Name</th><th>Location</th><th>Pool</th><th>Sitting now</th><th>Last seen</th><th>Status</th><th /></tr></thead>
          <tbody>
            {seats.data?.map((s) => (
              <tr key={s.seatId} data-seat={s.name}>
                <td>{s.name}</td>
                <td>{s.location}</td>
                <td>
                  <select aria-label={`Pool of ${s.name}`} value={s.poolId ?? ""} disabled={!!s.revokedAt} onChange={(e) => setPool.mutate({ seatId: s.seatId, poolId: e.target.value || null })}>
                    <option value="">None</option>
                    {pools.data?.pools.map((p) => <option key={p.poolId} value={p.poolId}>{p.name}</option>)}
                  </select>
                </td>
                <td data-testid="sitting-now">{s.sittingNow ?? <span className="muted">nobody</span>}</td>
                <td>{s.lastSeenAt ? new Date(s.lastSeenAt).toLocaleString() : "never"}</td>
                <td>{s.revokedAt ? "revoked" : "active"}</td>
                <td>{!s.revokedAt && <button className="danger" onClick={() => { if (window.confirm(`Revoke seat "${s.name}"? Its browser stops working at once.`)) revoke.mutate({ seatId: s.seatId }); }}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {seats.data?.length === 0 && <p className="muted">No seats yet.</p>}
      </section>
    </div>
  );
}
