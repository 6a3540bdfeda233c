"use client";
import { use } from "react";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useQuery } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import { OperationProgress, StateBadge, VmActions } from "@/components/vm-state";
import { VmConsole } from "@/components/vm-console";
import { SnapshotsPanel } from "@/components/snapshots-panel";
import { OperationsPanel } from "@/components/operations-panel";
import { VmSettings } from "@/components/vm-settings";

export default function VmPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const router = useRouter();
  const vm = useQuery(trpc.vm.get.queryOptions({ vmId: id }, { refetchInterval: 5000 }));
  // The operation that brought us here (a create): if it fails the VM is gone, and it says why.
  const opId = useSearchParams().get("op");
  const op = useQuery(trpc.operation.get.queryOptions({ operationId: opId ?? "" }, { enabled: !!opId && !!vm.error }));

  if (vm.error) {
    const failed = op.data?.status === "failed" ? op.data : null;
    return (
      <div>
        <p className="error" role="alert">{failed ? `Creating ${failed.vmName} failed: ${failed.error}` : errorMessage(vm.error)}</p>
        <Link href="/vms">Back to the list</Link>
      </div>
    );
  }
  if (!vm.data) return <p className="muted">Loading…</p>;
  const v = vm.data;
  return (
    <div className="vm">
      <header className="vm-head">
        <h1>{v.name}</h1>
        <StateBadge vm={v} />
        <OperationProgress vm={v} />
        <VmActions vm={v} onDeleted={() => router.push("/vms")} />
      </header>
      {v.stateReason && <p className={v.state === "error" || v.state === "unknown" ? "error" : "muted"} role="status">{v.stateReason}</p>}
      <dl className="facts">
        <dt>Template</dt><dd>{v.template.title}</dd>
        <dt>Size</dt><dd>{v.cpus} vCPU · {v.memoryMiB} MiB{v.diskGiB > 0 ? ` · ${v.diskGiB} GiB disk` : ""}</dd>
        <dt>Node</dt><dd>{v.node.name}{v.node.up ? "" : " (down)"}</dd>
        <dt>MAC</dt><dd>{v.macAddress}</dd>
        {v.cloneOf && <><dt>Clone</dt><dd>{v.cloneOf.mode} clone</dd></>}
      </dl>
      <VmConsole key={v.id} vmId={v.id} running={v.state === "running" || v.state === "paused"} protocols={v.template.consoles} />
      <SnapshotsPanel vm={v} />
      <VmSettings key={`${v.cpus}-${v.memoryMiB}-${v.diskGiB}`} vm={v} />
      <OperationsPanel vmId={v.id} />
    </div>
  );
}
