"use client";
// The VM's screen in the page through noVNC. The page asks the API for a console token;
// the API answers with the gateway URL, so the page never names a host or port itself.
import { useCallback, useEffect, useRef, useState } from "react";
import { useMutation } from "@tanstack/react-query";
import type RFB from "@novnc/novnc";
import { useTRPC, errorMessage } from "@/lib/trpc";

type Status = "connecting" | "connected" | "disconnected" | "error";

export function VmConsole({ vmId, running }: { vmId: string; running: boolean }) {
  const trpc = useTRPC();
  const screen = useRef<HTMLDivElement>(null);
  const rfb = useRef<RFB | null>(null);
  const [status, setStatus] = useState<Status>("disconnected");
  const [scale, setScale] = useState(true);
  const [attempt, setAttempt] = useState(0);
  const open = useMutation(trpc.console.open.mutationOptions());

  const connect = useCallback(async (cancelled: () => boolean) => {
    setStatus("connecting");
    let url: string;
    try {
      url = (await open.mutateAsync({ vmId })).url;
    } catch {
      setStatus("error");
      return;
    }
    const { default: RFBClass } = await import("@novnc/novnc");
    if (cancelled() || !screen.current) return;
    const r = new RFBClass(screen.current, url);
    r.scaleViewport = scale;
    r.focusOnClick = true;
    r.background = "#111";
    r.addEventListener("connect", () => { setStatus("connected"); r.focus(); });
    r.addEventListener("disconnect", () => { setStatus("disconnected"); if (rfb.current === r) rfb.current = null; });
    rfb.current = r;
  }, [vmId]);

  useEffect(() => {
    if (!running) return;
    let stop = false;
    void connect(() => stop);
    return () => {
      stop = true;
      rfb.current?.disconnect();
      rfb.current = null;
    };
  }, [running, attempt, connect]);

  useEffect(() => {
    if (rfb.current) rfb.current.scaleViewport = scale;
  }, [scale]);

  if (!running) return <div className="console off">The console is available while the VM is running.</div>;
  return (
    <section className="console" aria-label="Console">
      <div className="console-bar">
        <span data-testid="console-status" className={`badge console-${status}`}>{status}</span>
        <button className="secondary" onClick={() => rfb.current?.sendCtrlAltDel()} disabled={status !== "connected"}>Ctrl-Alt-Del</button>
        <button className="secondary" onClick={() => void screen.current?.requestFullscreen()} disabled={status !== "connected"}>Fullscreen</button>
        <label className="inline"><input type="checkbox" checked={scale} onChange={(e) => setScale(e.target.checked)} /> Scale to fit</label>
        {status !== "connected" && status !== "connecting" && <button onClick={() => setAttempt((a) => a + 1)}>Reconnect</button>}
        {open.error && <span className="error" role="alert">{errorMessage(open.error)}</span>}
      </div>
      <div ref={screen} className="screen" data-testid="console-screen" />
    </section>
  );
}
