"use client";
// A tenant admin's form for one member's limits (VMs, vCPUs, memory, disk); an empty field means no limit of its own.
import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";

export const LIMIT_FIELDS = [["vms", "VMs", ""], ["vcpus", "vCPUs", ""], ["memoryMiB", "Memory", " MiB"], ["diskGiB", "Disk", " GiB"]] as const;
type Key = (typeof LIMIT_FIELDS)[number][0];
export type MemberLimits = Record<Key, number | null>;

export function MemberLimitsForm({ userId, email, limits, onDone }: { userId: string; email: string; limits: MemberLimits; onDone: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const save = useMutation(trpc.tenant.setMemberLimits.mutationOptions({
    onSuccess: () => { void qc.invalidateQueries({ queryKey: trpc.tenant.pathKey() }); onDone(); },
  }));
  const [values, setValues] = useState<Record<Key, string>>(() => ({
    vms: limits.vms?.toString() ?? "", vcpus: limits.vcpus?.toString() ?? "", memoryMiB: limits.memoryMiB?.toString() ?? "", diskGiB: limits.diskGiB?.toString() ?? "",
  }));
  const fields = fieldErrors(save.error);
  function submit(e: FormEvent) {
    e.preventDefault();
    // Every field is sent: an emptied one lifts that limit (null), so the form says exactly what is stored.
    const toLimit = (v: string) => (v.trim() === "" ? null : Number(v));
    save.mutate({ userId, vms: toLimit(values.vms), vcpus: toLimit(values.vcpus), memoryMiB: toLimit(values.memoryMiB), diskGiB: toLimit(values.diskGiB) });
  }
  return (
    <form onSubmit={submit} className="inline-form" aria-label={`Limits of ${email}`}>
      {LIMIT_FIELDS.map(([k, label, unit]) => (
        <label key={k} className="inline">{label}{unit}
          <input type="number" min={0} step={1} value={values[k]} placeholder="no limit" style={{ width: "6rem" }}
            onChange={(e) => setValues({ ...values, [k]: e.target.value })} />
          {fields[k] && <span className="field-error" role="alert">{fields[k]}</span>}
        </label>
      ))}
      <button type="submit" disabled={save.isPending}>Save limits</button>
      <button type="button" className="secondary" onClick={onDone}>Cancel</button>
      {save.error && Object.keys(fields).length === 0 && <span className="error" role="alert">{errorMessage(save.error)}</span>}
    </form>
  );
}
