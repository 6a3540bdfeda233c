"use client";
import Link from "next/link";
import { useEffect, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import { CreateVmForm } from "@/components/create-vm-form";
import { OperationProgress, StateBadge, VmActions } from "@/components/vm-state";
import { VmThumbnail } from "@/components/vm-thumbnail";
import { UsageBox } from "@/components/usage-box";

/** VMs shown a page: the list is read a page at a time (vm.list's cursor), never the whole tenant. */
const PAGE_SIZE = 50;

type PagePosition = { cursor: string; direction: "after" | "before" } | null;

export default function VmsPage() {
  const trpc = useTRPC();
  // null: the first page (the newest VMs). Live updates refetch the page shown, whatever it is.
  const [position, setPosition] = useState<PagePosition>(null);
  const input = { limit: PAGE_SIZE, ...(position ?? {}) };
  // Live updates arrive by SSE; the interval catches what has no event (a node going quiet).
  const vms = useQuery(trpc.vm.list.queryOptions(input, { refetchInterval: 5000, placeholderData: keepPreviousData }));
  const rows = vms.data;
  // Paging back reached the newest VMs with room to spare: show the first page, full.
  const backPastStart = position?.direction === "before" && !vms.isPlaceholderData && rows !== undefined && rows.length < PAGE_SIZE;
  useEffect(() => { if (backPastStart) setPosition(null); }, [backPastStart]);
  const hasNext = rows !== undefined && rows.length === PAGE_SIZE;
  const hasPrevious = position !== null;
  const nodes = useQuery(trpc.node.list.queryOptions(undefined, { refetchInterval: 5000 }));
  const down = nodes.data?.filter((n) => !n.up) ?? [];
  return (
    <div className="vms">
      <section>
        <h1>Virtual machines</h1>
        {down.length > 0 && <p className="warning" role="status">Node down: {down.map((n) => n.lastSeen).join("; ")}</p>}
        {vms.error && <p className="error" role="alert">{errorMessage(vms.error)}</p>}
        {rows?.length === 0 && position === null && <p className="muted">No VMs yet: create one from a template.</p>}
        {rows?.length === 0 && position !== null && <p className="muted">No VMs on this page any more.</p>}
        {rows && rows.length > 0 && (
          <table aria-label="Virtual machines">
            <thead>
              <tr><th>Screen</th><th>Name</th><th>State</th><th>Template</th><th>Size</th><th>Node</th><th>Actions</th></tr>
            </thead>
            <tbody>
              {rows.map((vm) => (
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
        {(hasPrevious || hasNext) && (
          <nav className="pager" aria-label="VM pages">
            <button type="button" onClick={() => setPosition(null)} disabled={!hasPrevious}>First</button>
            <button type="button" onClick={() => rows?.[0] && setPosition({ cursor: rows[0].cursor, direction: "before" })} disabled={!hasPrevious || !rows?.length}>Previous</button>
            <button type="button" onClick={() => rows?.at(-1) && setPosition({ cursor: rows.at(-1)!.cursor, direction: "after" })} disabled={!hasNext}>Next</button>
          </nav>
        )}
      </section>
      <aside className="side"><CreateVmForm /><UsageBox /></aside>
    </div>
  );
}
