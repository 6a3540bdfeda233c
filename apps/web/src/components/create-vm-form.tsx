"use client";
// Create a VM from a template, with the server's validation messages shown by the fields.
import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";

export function CreateVmForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const templates = useQuery(trpc.template.list.queryOptions());
  const [templateId, setTemplateId] = useState("");
  const [name, setName] = useState("");
  const [cpus, setCpus] = useState(1);
  const [memoryMiB, setMemoryMiB] = useState(256);
  const create = useMutation(trpc.vm.create.mutationOptions({ onSuccess: (r) => router.push(`/vms/${r.vmId}?op=${r.operationId}`) }));
  const fields = fieldErrors(create.error);
  const template = templates.data?.find((t) => t.id === templateId);

  /** Picks a template with its own default size (a desktop wants more memory than a shell). */
  function pick(t: { id: string; defaultCpus: number; defaultMemoryMiB: number }) {
    setTemplateId(t.id);
    setCpus(t.defaultCpus);
    setMemoryMiB(t.defaultMemoryMiB);
  }

  useEffect(() => {
    const first = templates.data?.[0];
    if (!templateId && first) pick(first);
  }, [templates.data, templateId]);

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ templateId, name, cpus, memoryMiB });
  }

  return (
    <form onSubmit={submit} className="card create" aria-label="Create a VM">
      <h2>New virtual machine</h2>
      <label>
        Template
        <select value={templateId} onChange={(e) => { const t = templates.data?.find((x) => x.id === e.target.value); if (t) pick(t); }} required>
          {templates.data?.map((t) => <option key={t.id} value={t.id}>{t.title}</option>)}
        </select>
      </label>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="my-desktop" maxLength={100} />
        {fields.name && <span className="field-error" role="alert">{fields.name}</span>}
      </label>
      <label>
        CPUs
        <input type="number" value={cpus} min={1} max={template?.maxCpus ?? 64} onChange={(e) => setCpus(Number(e.target.value))} />
        {fields.cpus && <span className="field-error" role="alert">{fields.cpus}</span>}
      </label>
      <label>
        Memory (MiB)
        <input type="number" value={memoryMiB} step={64} onChange={(e) => setMemoryMiB(Number(e.target.value))} />
        {template && <small>{template.minMemoryMiB}–{template.maxMemoryMiB} MiB</small>}
        {fields.memoryMiB && <span className="field-error" role="alert">{fields.memoryMiB}</span>}
      </label>
      {create.error && Object.keys(fields).length === 0 && <p className="error" role="alert">{errorMessage(create.error)}</p>}
      <button type="submit" disabled={create.isPending || !templateId}>{create.isPending ? "Creating…" : "Create"}</button>
    </form>
  );
}
