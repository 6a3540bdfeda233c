"use client";
// What the tenant uses against its quotas, and the signed-in member against the limits a tenant admin set for them.
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/lib/trpc";

const ROWS = [["vms", "VMs", ""], ["vcpus", "vCPUs", ""], ["memoryMiB", "Memory", " MiB"], ["diskGiB", "Disk", " GiB"], ["snapshots", "Snapshots", ""]] as const;
const MEMBER_ROWS = ROWS.filter(([k]) => k !== "snapshots") as readonly (readonly ["vms" | "vcpus" | "memoryMiB" | "diskGiB", string, string])[];

export function UsageBox() {
  const trpc = useTRPC();
  const usage = useQuery(trpc.tenant.usage.queryOptions(undefined, { refetchInterval: 10_000 }));
  if (!usage.data) return null;
  const { used, limits, tenant, member } = usage.data;
  // Only the limits that are set: without one the tenant quota is the whole story.
  const mine = MEMBER_ROWS.filter(([k]) => member.limits[k] !== null);
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
      {mine.length > 0 && (
        <>
          <h3>Your limits</h3>
          <table aria-label="Your limits">
            <tbody>
              {mine.map(([k, label, unit]) => {
                const max = member.limits[k]!;
                return (
                  <tr key={k} data-member-limit={k}>
                    <td>{label}</td>
                    <td><meter min={0} max={max} value={member.used[k]} high={max * 0.9} aria-label={`${label} you use`} /></td>
                    <td>{member.used[k]}{unit} / {max}{unit}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
