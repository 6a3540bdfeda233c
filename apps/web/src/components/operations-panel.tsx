"use client";
// The VM's operations with their progress, live over a tRPC subscription (server-sent events).
import { useSubscription } from "@trpc/tanstack-react-query";
import { useTRPC } from "@/lib/trpc";

const LABEL: Record<string, string> = { "snapshot-delete": "delete snapshot", restore: "revert", template: "make template" };

export function OperationsPanel({ vmId }: { vmId: string }) {
  const trpc = useTRPC();
  const ops = useSubscription(trpc.operation.watch.subscriptionOptions({ vmId, limit: 10 }));
  const list = ops.data ?? [];
  return (
    <section className="card operations" aria-label="Operations">
      <h2>Operations</h2>
      {list.length === 0 && <p className="muted">{ops.status === "connecting" ? "Connecting…" : "None yet."}</p>}
      {list.length > 0 && (
        <table aria-label="Operations">
          <thead><tr><th>Operation</th><th>Started</th><th>Progress</th><th>Outcome</th></tr></thead>
          <tbody>
            {list.map((o) => (
              <tr key={o.id} data-testid="operation-row" data-kind={o.kind} data-status={o.status}>
                <td>{LABEL[o.kind] ?? o.kind}</td>
                <td>{new Date(o.createdAt).toLocaleTimeString()}</td>
                <td>
                  <progress max={100} value={o.progress} aria-label={`${LABEL[o.kind] ?? o.kind} progress`} data-progress={o.progress} /> {o.progress}%
                </td>
                <td className={o.status === "failed" ? "error" : o.status === "succeeded" ? "" : "muted"}>
                  {o.status === "failed" ? `failed: ${o.error ?? "unknown reason"}` : o.status}
                  {o.finishedAt && ` (${((new Date(o.finishedAt).getTime() - new Date(o.createdAt).getTime()) / 1000).toFixed(1)} s)`}
                  {o.detail && <div className="muted op-detail" data-testid="operation-detail">{o.detail}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
