// The interactive console protocols a node's gateway serves, one row each: the path the browser's
// WebSocket comes on (the portal builds the URL; the node routes by it) and what the choice is
// called on the page. A template says which it offers, the first being its default (Template.consoles:
// "vnc" for a text console, "rdp,vnc" for a desktop: RDP logs in, VNC still shows boot and firmware).
import { z } from "zod";

export const consoleProtocolSchema = z.enum(["vnc", "rdp"]);
export type ConsoleProtocol = z.infer<typeof consoleProtocolSchema>;

export const CONSOLE_PROTOCOLS: Record<ConsoleProtocol, { path: string; title: string }> = {
  vnc: { path: "/console", title: "VNC (the VM's screen)" },
  rdp: { path: "/rdp", title: "RDP (the desktop session)" },
};

/** The protocols a template's `consoles` field offers, its default first; unknown names are left out. */
export function consolesOf(field: string | null | undefined): ConsoleProtocol[] {
  const out: ConsoleProtocol[] = [];
  for (const name of (field ?? "").split(",")) {
    const p = consoleProtocolSchema.safeParse(name.trim());
    if (p.success && !out.includes(p.data)) out.push(p.data);
  }
  return out.length ? out : ["vnc"];
}
