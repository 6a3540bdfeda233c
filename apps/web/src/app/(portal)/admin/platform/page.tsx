"use client";
// Platform administrators: hypervisor nodes (health, load, drain, remove, join tokens for new hosts)
// and every template (who may use it, retire).
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";

export default function PlatformPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const nodes = useQuery(trpc.node.listAll.queryOptions(undefined, { refetchInterval: 5000 }));
  const templates = useQuery(trpc.template.listAll.queryOptions());
  const tenants = useQuery(trpc.tenant.list.queryOptions());
  const refreshNodes = () => void qc.invalidateQueries({ queryKey: trpc.node.pathKey() });
  const refreshTemplates = () => void qc.invalidateQueries({ queryKey: trpc.template.pathKey() });
  const drain = useMutation(trpc.node.setDrained.mutationOptions({ onSuccess: refreshNodes }));
  const remove = useMutation(trpc.node.remove.mutationOptions({ onSuccess: refreshNodes }));
  const visibility = useMutation(trpc.template.setVisibility.mutationOptions({ onSuccess: refreshTemplates }));
  const retire = useMutation(trpc.template.setRetired.mutationOptions({ onSuccess: refreshTemplates }));
  const nodeError = [drain, remove].find((m) => m.error)?.error;
  const templateError = [visibility, retire].find((m) => m.error)?.error;
  if (nodes.error) return <p className="error" role="alert">{errorMessage(nodes.error)}</p>;
  return (
    <div className="admin">
      <h1>Nodes and templates</h1>
      <section className="card" aria-label="Nodes">
        <h2>Nodes</h2>
        {nodeError && <p className="error" role="alert">{errorMessage(nodeError)}</p>}
        <table>
          <thead><tr><th>Node</th><th>Health</th><th>Engines</th><th>VMs</th><th>CPUs (VMs / node)</th><th>Memory (VMs / node)</th><th>Placement</th><th /></tr></thead>
          <tbody>
            {nodes.data?.map((n) => (
              <tr key={n.id} data-node={n.name}>
                <td>{n.name} <span className="muted">{n.apiUrl}</span></td>
                <td>{n.up ? <span className="badge state-running">up</span> : <span className="badge state-error">down</span>} <span className="muted">{n.lastSeen}</span></td>
                <td>{Object.entries(n.capabilities.engines).map(([name, e]) => (
                  <span key={name} className="badge" title={e.reason ?? e.version ?? ""}>{name}{e.available ? "" : " (unavailable)"}</span>
                ))}</td>
                <td>{n.vms}</td>
                <td>{n.usedCpus} / {n.totalCpus}</td>
                <td>{n.usedMemoryMiB} / {n.totalMemoryMiB} MiB</td>
                <td>
                  {n.drained ? <span className="badge">drained</span> : <span className="muted">open</span>}{" "}
                  <button className="secondary" onClick={() => drain.mutate({ nodeId: n.id, drained: !n.drained })}>{n.drained ? "Undrain" : "Drain"}</button>
                </td>
                <td>
                  <button className="danger" disabled={n.vms > 0} title={n.vms > 0 ? "Only a node without VMs can be removed" : ""}
                    onClick={() => window.confirm(`Remove node ${n.name}? Its agent must join again to come back.`) && remove.mutate({ nodeId: n.id })}>Remove</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted">A drained node takes no new VMs (clones of its VMs included); the VMs on it keep running.</p>
      </section>
      <JoinNode />
      <section className="card" aria-label="Templates">
        <h2>Templates</h2>
        {templateError && <p className="error" role="alert">{errorMessage(templateError)}</p>}
        <table>
          <thead><tr><th>Template</th><th>Engine</th><th>Status</th><th>VMs</th><th>Offered to</th><th /></tr></thead>
          <tbody>
            {templates.data?.map((t) => (
              <tr key={t.id} data-template={t.slug}>
                <td>{t.title} <span className="muted">({t.slug})</span></td>
                <td>{t.engine}</td>
                <td>{t.retired ? <span className="badge state-error">retired</span> : t.status}</td>
                <td>{t.vms}</td>
                <td>
                  <select aria-label={`Who may use ${t.title}`} value={t.tenantId ?? ""}
                    onChange={(e) => visibility.mutate({ templateId: t.id, tenantId: e.target.value === "" ? null : e.target.value })}>
                    <option value="">every tenant</option>
                    {tenants.data?.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
                  </select>
                </td>
                <td>
                  <button className={t.retired ? "secondary" : "danger"} onClick={() => retire.mutate({ templateId: t.id, retired: !t.retired })}>
                    {t.retired ? "Bring back" : "Retire"}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted">A retired template offers no new VMs; the VMs made from it keep working (start, snapshot, clone, resize).</p>
      </section>
    </div>
  );
}

/** Adds a host: a one-time join token for it, shown once with the agent's settings; the tokens waiting or used. */
function JoinNode() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const tokens = useQuery(trpc.node.joinTokens.queryOptions());
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.node.pathKey() });
  const create = useMutation(trpc.node.createJoinToken.mutationOptions({ onSuccess: () => { setNote(""); refresh(); } }));
  const revoke = useMutation(trpc.node.revokeJoinToken.mutationOptions({ onSuccess: refresh }));
  const [note, setNote] = useState("");
  const [hours, setHours] = useState(24);
  const made = create.data;
  const portal = typeof window === "undefined" ? "" : window.location.origin;
  return (
    <section className="card" aria-label="Add a node">
      <h2>Add a node</h2>
      <form className="create" onSubmit={(e: FormEvent) => { e.preventDefault(); create.mutate({ note: note || undefined, expiresInHours: hours }); }}>
        <label>For (host, rack) <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={200} placeholder="rack 2, host b" /></label>
        <label>Valid for (hours) <input type="number" min={1} max={168} value={hours} onChange={(e) => setHours(Number(e.target.value))} /></label>
        <button type="submit" disabled={create.isPending}>Make a join token</button>
      </form>
      {(create.error ?? revoke.error) && <p className="error" role="alert">{errorMessage(create.error ?? revoke.error)}</p>}
      {made && (
        <div role="status">
          <p>Shown once. On the new host, start the node agent with (docs/multi-node.md):</p>
          <pre data-testid="join-command">{`VDI_PORTAL_URL=${portal} VDI_NODE_JOIN_TOKEN=${made.token} VDI_NODE_NAME=<this host's name> npm --workspace apps/hypervisor-node start`}</pre>
        </div>
      )}
      <table>
        <thead><tr><th>For</th><th>State</th><th>Made</th><th>Expires</th><th>Joined node</th><th /></tr></thead>
        <tbody>
          {tokens.data?.map((t) => (
            <tr key={t.joinTokenId} data-join-token={t.joinTokenId}>
              <td>{t.note || <span className="muted">—</span>}</td>
              <td><span className="badge">{t.state}</span></td>
              <td>{new Date(t.createdAt).toLocaleString()}</td>
              <td>{new Date(t.expiresAt).toLocaleString()}</td>
              <td>{t.usedByNodeId ?? ""}</td>
              <td>{t.state === "live" && <button className="danger" onClick={() => revoke.mutate({ joinTokenId: t.joinTokenId })}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {tokens.data?.length === 0 && <p className="muted">No join tokens yet. This portal's own node joins with its shared token (VDI_NODE_JOIN_TOKEN).</p>}
    </section>
  );
}
