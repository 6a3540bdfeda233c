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
  // Unplanned drops (the VM's process was replaced by a revert or a resume) reconnect by
  // themselves a few times; after that the Reconnect button is there.
  const retries = useRef(0);
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
    r.addEventListener("connect", () => { setStatus("connected"); retries.current = 0; r.focus(); });
    r.addEventListener("disconnect", () => {
      setStatus("disconnected");
      if (rfb.current !== r) return;  // we closed it ourselves
      rfb.current = null;
      if (retries.current < 5) {
        retries.current += 1;
        setTimeout(() => { if (!cancelled()) setAttempt((a) => a + 1); }, 500 * retries.current);
      }
    });
    rfb.current = r;
  }, [vmId]);

  useEffect(() => {
    if (!running) return;
    let stop = false;
    void connect(() => stop);
    return () => {
      stop = true;
      const r = rfb.current;
      rfb.current = null;
      r?.disconnect();
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
        {status !== "connected" && status !== "connecting" && <button onClick={() => { retries.current = 0; setAttempt((a) => a + 1); }}>Reconnect</button>}
        {open.error && <span className="error" role="alert">{errorMessage(open.error)}</span>}
      </div>
      <div ref={screen} className="screen" data-testid="console-screen" />
    </section>
  );
}
