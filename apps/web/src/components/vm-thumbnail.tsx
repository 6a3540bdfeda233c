"use client";
// A small picture of a VM's screen for the VM list, refreshed while the page is visible.
import { useEffect, useState } from "react";
import type { Vm } from "./vm-state";

const REFRESH_MS = 5_000;

export function VmThumbnail({ vm }: { vm: Pick<Vm, "id" | "name" | "state"> }) {
  const live = vm.state === "running" || vm.state === "paused";
  // The picture on screen; the next one loads off-screen and replaces it only once complete.
  const [shown, setShown] = useState<{ vmId: string; src: string } | null>(null);

  useEffect(() => {
    if (!live) return;
    let cancelled = false;
    let loading = false;
    const load = () => {
      if (loading || document.visibilityState !== "visible") return;
      loading = true;
      const src = `/api/vms/${vm.id}/thumbnail?t=${Date.now()}`;
      const next = new window.Image();
      next.onload = () => {
        loading = false;
        if (!cancelled) setShown({ vmId: vm.id, src });
      };
      next.onerror = () => { loading = false; };  // keep the last picture; try again next time
      next.src = src;
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    document.addEventListener("visibilitychange", load);
    return () => {
      cancelled = true;
      clearInterval(timer);
      document.removeEventListener("visibilitychange", load);
    };
  }, [live, vm.id]);

  if (!live || !shown || shown.vmId !== vm.id) {
    return <div className="thumb thumb-off" role="img" aria-label={`Screen of ${vm.name}: ${vm.state}`}>{vm.state}</div>;
  }
  return <img className="thumb" src={shown.src} width={160} alt={`Screen of ${vm.name}`} />;
}
