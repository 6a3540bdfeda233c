"use client";
// The VM's screen in the page through noVNC. The page asks the API for a console token;
// the API answers with the gateway URL, so the page never names a host or port itself.
// A desktop offers two consoles: RDP (its default: the desktop session, logged in by the node's
// bridge) and VNC (the VM's screen itself: boot, firmware, the console's own session). Both reach
// the page as RFB, so one noVNC serves them.
// The clipboard goes both ways on both (RDP: the bridge's cliprdr; VNC: QEMU's vdagent and the
// guest's spice-vdagent): the guest's text lands in the Clipboard box and, where the browser lets
// the page, on the local clipboard; text put in the box, or on the local clipboard when the page
// may read it, goes to the guest.
import { useCallback, useEffect, useRef, useState } from "react";
import { useMutation } from "@tanstack/react-query";
import type RFB from "@novnc/novnc";
import { useTRPC, errorMessage } from "@/lib/trpc";

type Status = "connecting" | "connected" | "disconnected" | "error";

type Protocol = "vnc" | "rdp";
const PROTOCOL_TITLE: Record<Protocol, string> = { rdp: "RDP", vnc: "VNC" };

export function VmConsole({ vmId, running, protocols = ["vnc"], openUrl, onFirstFrame, onClosed, viewOnly = false, keepSize = false }: {
  vmId: string;
  running: boolean;
  protocols?: Protocol[];
  /** Where the console's token comes from, when not console.open (a seat's kiosk asks for its session's). */
  openUrl?: (protocol: Protocol) => Promise<string>;
  /** Called once the first frame is drawn. */
  onFirstFrame?: () => void;
  /** The gateway closed the console with a reason (code ≥ 4000). */
  onClosed?: (code: number, reason: string) => void;
  /** Watching someone else's session (a helpdesk shadow): no input, and their desktop keeps its size. */
  viewOnly?: boolean;
  /** The desktop keeps its size (a shadow watches the user's desktop at the user's size): scaled instead. */
  keepSize?: boolean;
}) {
  const trpc = useTRPC();
  const screen = useRef<HTMLDivElement>(null);
  const rfb = useRef<RFB | null>(null);
  const [status, setStatus] = useState<Status>("disconnected");
  const [scale, setScale] = useState(true);
  const [attempt, setAttempt] = useState(0);
  const [protocol, setProtocol] = useState<Protocol>(protocols[0] ?? "vnc");
  // Why the gateway closed the last console ("the RDP bridge crashed…"), shown until the next one opens.
  const [closedWhy, setClosedWhy] = useState<string | null>(null);
  // Unplanned drops (the VM's process was replaced by a revert or a resume, the desktop's RDP
  // server is not up yet) reconnect by themselves; after that the Reconnect button is there.
  const retries = useRef(0);
  const [clipOpen, setClipOpen] = useState(false);
  const [clip, setClip] = useState("");
  // The last text either side had, so a local clipboard read sends only what is new.
  const lastClip = useRef("");
  const open = useMutation(trpc.console.open.mutationOptions());

  const connect = useCallback(async (cancelled: () => boolean) => {
    setStatus("connecting");
    let url: string;
    try {
      url = openUrl ? await openUrl(protocol) : (await open.mutateAsync({ vmId, protocol })).url;
    } catch {
      setStatus("error");
      return;
    }
    const { default: RFBClass } = await import("@novnc/novnc");
    if (cancelled() || !screen.current) return;
    // noVNC takes the WebSocket itself, so the page can read the gateway's close reason.
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("close", (e) => { if (e.code >= 4000 && e.reason) { setClosedWhy(e.reason); onClosed?.(e.code, e.reason); } });
    ws.addEventListener("open", () => setClosedWhy(null));
    const r = new RFBClass(screen.current, ws);
    r.scaleViewport = scale;
    // The desktop follows the page's size where the server can change it (RDP), else it is scaled.
    r.resizeSession = protocol === "rdp" && !keepSize;
    r.viewOnly = viewOnly;
    r.focusOnClick = true;
    r.background = "#111";
    r.addEventListener("connect", () => {
      setStatus("connected");
      retries.current = 0;
      r.focus();
      // The first frame follows the connect at once (noVNC draws it as it arrives).
      if (onFirstFrame) requestAnimationFrame(() => onFirstFrame());
    });
    r.addEventListener("clipboard", (e) => {
      const text = (e as CustomEvent<{ text: string }>).detail.text;
      lastClip.current = text;
      setClip(text);
      // Allowed while the page has the focus (Chromium, Firefox); where not, the box has it.
      void navigator.clipboard?.writeText(text).catch(() => undefined);
    });
    r.addEventListener("disconnect", () => {
      setStatus("disconnected");
      if (rfb.current !== r) return;  // we closed it ourselves
      rfb.current = null;
      // A desktop's RDP server comes up a while after the VM (xrdp: ~40 s under TCG): RDP keeps
      // trying for about two minutes; other drops a few times, sooner.
      const rdp = protocol === "rdp";
      if (retries.current < (rdp ? 40 : 5)) {
        retries.current += 1;
        setTimeout(() => { if (!cancelled()) setAttempt((a) => a + 1); }, rdp ? 3_000 : 500 * retries.current);
      }
    });
    rfb.current = r;
  }, [vmId, protocol, openUrl, viewOnly, keepSize]);

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

  const sendClip = useCallback((text: string) => {
    lastClip.current = text;
    rfb.current?.clipboardPasteFrom(text);
  }, []);

  // Copied locally, pasted in the guest: when the console gets the pointer or the focus and the
  // browser lets the page read the clipboard (granted, never prompted for here), new text is sent.
  const pullLocalClipboard = useCallback(async () => {
    try {
      const state = (await navigator.permissions?.query({ name: "clipboard-read" as PermissionName }))?.state;
      if (state !== "granted" || !navigator.clipboard?.readText) return;
      const text = await navigator.clipboard.readText();
      if (text && text !== lastClip.current) { setClip(text); sendClip(text); }
    } catch {
      // no permission or no focus: the Clipboard box is the way
    }
  }, [sendClip]);

  if (!running) return <div className="console off">The console is available while the VM is running.</div>;
  return (
    <section className="console" aria-label="Console">
      <div className="console-bar">
        <span data-testid="console-status" className={`badge console-${status}`}>{status}</span>
        {protocols.length > 1 && (
          <span className="segmented" role="group" aria-label="Console protocol">
            {protocols.map((p) => (
              <button key={p} data-testid={`console-protocol-${p}`} aria-pressed={p === protocol}
                className={p === protocol ? "" : "secondary"}
                onClick={() => { if (p !== protocol) { retries.current = 0; setProtocol(p); } }}>{PROTOCOL_TITLE[p]}</button>
            ))}
          </span>
        )}
        <button className="secondary" onClick={() => rfb.current?.sendCtrlAltDel()} disabled={status !== "connected"}>Ctrl-Alt-Del</button>
        <button className="secondary" onClick={() => void screen.current?.requestFullscreen()} disabled={status !== "connected"}>Fullscreen</button>
        <label className="inline"><input type="checkbox" checked={scale} onChange={(e) => setScale(e.target.checked)} /> Scale to fit</label>
        <button className="secondary" aria-expanded={clipOpen} onClick={() => setClipOpen((o) => !o)}>Clipboard</button>
        {status !== "connected" && status !== "connecting" && <button onClick={() => { retries.current = 0; setAttempt((a) => a + 1); }}>Reconnect</button>}
        {open.error && <span className="error" role="alert">{errorMessage(open.error)}</span>}
        {!open.error && closedWhy && status !== "connected" && <span className="error" data-testid="console-closed" role="status">{closedWhy}</span>}
      </div>
      {clipOpen && (
        <label className="console-clipboard">
          <span>Clipboard (the guest&apos;s last copied text; what you type or paste here goes to the guest)</span>
          <textarea data-testid="console-clipboard" rows={3} value={clip} maxLength={1 << 20}
            onChange={(e) => { setClip(e.target.value); sendClip(e.target.value); }} />
        </label>
      )}
      <div ref={screen} className="screen" data-testid="console-screen"
        onPointerEnter={() => void pullLocalClipboard()} onFocus={() => void pullLocalClipboard()} />
    </section>
  );
}
