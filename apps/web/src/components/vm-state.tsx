"use client";
// State badge, operation progress and action buttons, shared by the list and the VM page.
import { useMutation } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@vdi/api/client";

export type Vm = inferRouterOutputs<AppRouter>["vm"]["list"][number];

export function StateBadge({ vm }: { vm: Vm }) {
  return (
    <span className={`badge state-${vm.state}`} data-testid="vm-state" title={vm.stateReason ?? undefined}>
      {vm.state}
    </span>
  );
}

export function OperationProgress({ vm }: { vm: Vm }) {
  const op = vm.operation;
  if (!op) return null;
  if (op.status === "failed") return <span className="error" role="alert">{op.kind} failed: {op.error}</span>;
  if (op.status === "succeeded") return null;
  return (
    <span className="op">
      {op.kind}…
      <progress max={100} value={op.progress} aria-label={`${op.kind} progress`} />
    </span>
  );
}

const LABELS = { start: "Start", stop: "Shut down", poweroff: "Power off", reboot: "Reboot", pause: "Pause", resume: "Resume", save: "Save to disk", delete: "Delete" } as const;

export function VmActions({ vm, onDeleted }: { vm: Vm; onDeleted?: () => void }) {
  const trpc = useTRPC();
  const start = useMutation(trpc.vm.start.mutationOptions());
  const stop = useMutation(trpc.vm.stop.mutationOptions());
  const poweroff = useMutation(trpc.vm.powerOff.mutationOptions());
  const reboot = useMutation(trpc.vm.reboot.mutationOptions());
  const pause = useMutation(trpc.vm.pause.mutationOptions());
  const resume = useMutation(trpc.vm.resume.mutationOptions());
  const save = useMutation(trpc.vm.save.mutationOptions());
  const del = useMutation(trpc.vm.delete.mutationOptions({ onSuccess: () => onDeleted?.() }));
  const m = { start, stop, poweroff, reboot, pause, resume, save, delete: del };
  const failed = [start, stop, poweroff, reboot, pause, resume, save, del].find((x) => x.error);
  return (
    <span className="actions">
      {(Object.keys(LABELS) as (keyof typeof LABELS)[]).filter((a) => (a !== "pause" && a !== "resume" && a !== "save" && a !== "poweroff") || vm.actions.includes(a)).map((a) => (
        <button
          key={a}
          className={a === "delete" ? "danger" : "secondary"}
          disabled={!vm.actions.includes(a) || m[a].isPending}
          onClick={() => {
            if (a === "delete" && !window.confirm(`Delete ${vm.name} and its disk?`)) return;
            if (a === "poweroff" && !window.confirm(`Power off ${vm.name} at once? What it has not saved is lost.`)) return;
            m[a].mutate({ vmId: vm.id });
          }}
        >
          {LABELS[a]}
        </button>
      ))}
      {failed && <span className="error" role="alert">{errorMessage(failed.error)}</span>}
    </span>
  );
}
