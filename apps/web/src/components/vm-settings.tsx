"use client";
// Resize (CPUs and memory when stopped, grow the disk any time), a full clone of the stopped VM,
// and a template from the stopped VM.
import { useState, type FormEvent } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";
import type { Vm } from "./vm-state";

export function VmSettings({ vm }: { vm: Vm }) {
  const trpc = useTRPC();
  const router = useRouter();
  const [cpus, setCpus] = useState(vm.cpus);
  const [memoryMiB, setMemory] = useState(vm.memoryMiB);
  const [diskGiB, setDisk] = useState(vm.diskGiB);
  const resize = useMutation(trpc.vm.resize.mutationOptions());
  const clone = useMutation(trpc.vm.clone.mutationOptions({ onSuccess: (r) => router.push(`/vms/${r.vmId}?op=${r.operationId}`) }));
  const template = useMutation(trpc.template.fromVm.mutationOptions());
  const share = useMutation(trpc.vm.share.mutationOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  const mayManage = !!me.data && (me.data.role !== "user" || me.data.userId === vm.ownerId);
  // Platform admins may publish a template to every tenant; everyone else makes it for their own.
  const [everyTenant, setEveryTenant] = useState(false);
  const scope = me.data?.role === "admin" && everyTenant ? "global" : "tenant";
  // What the VM's engine allows comes from the API (packages/node-protocol/src/engines.ts).
  const isMicroVm = !vm.template.traits.hasDisk;
  const stopped = vm.state === "stopped";
  const fields = fieldErrors(resize.error);
  const failed = [resize, clone, template, share].find((m) => m.error);

  function submit(e: FormEvent) {
    e.preventDefault();
    resize.mutate({
      vmId: vm.id,
      ...(cpus !== vm.cpus ? { cpus } : {}),
      ...(memoryMiB !== vm.memoryMiB ? { memoryMiB } : {}),
      ...(!isMicroVm && diskGiB !== vm.diskGiB ? { diskGiB } : {}),
    });
  }

  return (
    <section className="card settings" aria-label="Settings">
      <h2>Size and copies</h2>
      <form onSubmit={submit} className="inline-form">
        <label className="inline">vCPUs <input type="number" min={1} max={64} value={cpus} disabled={!stopped} onChange={(e) => setCpus(Number(e.target.value))} /></label>
        <label className="inline">Memory (MiB) <input type="number" min={64} step={64} value={memoryMiB} disabled={!stopped} onChange={(e) => setMemory(Number(e.target.value))} /></label>
        {!isMicroVm && <label className="inline">Disk (GiB) <input type="number" min={vm.diskGiB} max={1024} value={diskGiB} onChange={(e) => setDisk(Number(e.target.value))} /></label>}
        <button type="submit" disabled={!vm.actions.includes("resize") || resize.isPending}>Resize</button>
        {!stopped && <span className="muted">CPUs and memory change while the VM is stopped; the disk can grow while it runs.</span>}
        {Object.values(fields).map((m) => <span key={m} className="field-error" role="alert">{m}</span>)}
      </form>
      {!isMicroVm && (
        <div className="inline-form">
          <button className="secondary" disabled={!stopped || clone.isPending}
            onClick={() => { const n = window.prompt("Name of the copy", `${vm.name}-copy`); if (n) clone.mutate({ vmId: vm.id, name: n, mode: "full" }); }}>Full clone</button>
          <button className="secondary" disabled={!stopped || template.isPending}
            onClick={() => { const t = window.prompt("Template name", `${vm.name} template`); if (t) template.mutate({ vmId: vm.id, title: t, scope }); }}>Make template</button>
          {me.data?.role === "admin" && (
            <label className="inline"><input type="checkbox" checked={everyTenant} onChange={(e) => setEveryTenant(e.target.checked)} /> for every tenant</label>
          )}
          {!stopped && <span className="muted">Stop the VM to copy its current disk (or use a snapshot below).</span>}
        </div>
      )}
      {mayManage && (
        <label className="inline">
          <input type="checkbox" checked={vm.shared} disabled={share.isPending} onChange={(e) => share.mutate({ vmId: vm.id, shared: e.target.checked })} />
          Shared with the tenant (its users can see and use it; only you and tenant admins can delete it)
        </label>
      )}
      {template.data && <p className="muted" role="status">Template being made; it appears in the template list when the node has written it.</p>}
      {failed && Object.keys(fields).length === 0 && <p className="error" role="alert">{errorMessage(failed.error)}</p>}
    </section>
  );
}
