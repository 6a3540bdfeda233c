"use client";
// What the tenant uses against its quotas.
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/lib/trpc";

const ROWS = [["vms", "VMs", ""], ["vcpus", "vCPUs", ""], ["memoryMiB", "Memory", " MiB"], ["diskGiB", "Disk", " GiB"], ["snapshots", "Snapshots", ""]] as const;

export function UsageBox() {
  const trpc = useTRPC();
  const usage = useQuery(trpc.tenant.usage.queryOptions(undefined, { refetchInterval: 10_000 }));
  if (!usage.data) return null;
  const { used, limits, tenant } = usage.data;
  return (
    <section className="card usage" aria-label="Quota">
      <h2>{tenant.name}: quota</h2>
      <table>
        <tbody>
          {ROWS.map(([k, label, unit]) => (
            <tr key={k} data-quota={k}>
              <td>{label}</td>
              <td><meter min={0} max={limits[k]} value={used[k]} high={limits[k] * 0.9} aria-label={`${label} used`} /></td>
              <td>{used[k]}{unit} / {limits[k]}{unit}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
