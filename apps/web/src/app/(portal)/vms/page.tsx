"use client";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import { CreateVmForm } from "@/components/create-vm-form";
import { OperationProgress, StateBadge, VmActions } from "@/components/vm-state";
import { VmThumbnail } from "@/components/vm-thumbnail";
import { UsageBox } from "@/components/usage-box";

export default function VmsPage() {
  const trpc = useTRPC();
  // Live updates arrive by SSE; the interval catches what has no event (a node going quiet).
  const vms = useQuery(trpc.vm.list.queryOptions(undefined, { refetchInterval: 5000 }));
  const nodes = useQuery(trpc.node.list.queryOptions(undefined, { refetchInterval: 5000 }));
  const down = nodes.data?.filter((n) => !n.up) ?? [];
  return (
    <div className="vms">
      <section>
        <h1>Virtual machines</h1>
        {down.length > 0 && <p className="warning" role="status">Node down: {down.map((n) => n.lastSeen).join("; ")}</p>}
        {vms.error && <p className="error" role="alert">{errorMessage(vms.error)}</p>}
        {vms.data?.length === 0 && <p className="muted">No VMs yet: create one from a template.</p>}
        {vms.data && vms.data.length > 0 && (
          <table aria-label="Virtual machines">
            <thead>
              <tr><th>Screen</th><th>Name</th><th>State</th><th>Template</th><th>Size</th><th>Node</th><th>Actions</th></tr>
            </thead>
            <tbody>
              {vms.data.map((vm) => (
                <tr key={vm.id} data-vm={vm.name}>
                  <td><VmThumbnail vm={vm} /></td>
                  <td><Link href={`/vms/${vm.id}`}>{vm.name}</Link></td>
                  <td><StateBadge vm={vm} /> <OperationProgress vm={vm} /></td>
                  <td>{vm.template.title}</td>
                  <td>{vm.cpus} vCPU · {vm.memoryMiB} MiB</td>
                  <td>{vm.node.name}{vm.node.up ? "" : " (down)"}</td>
                  <td><VmActions vm={vm} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <aside className="side"><CreateVmForm /><UsageBox /></aside>
    </div>
  );
}
