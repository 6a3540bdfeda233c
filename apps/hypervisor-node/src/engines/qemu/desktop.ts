// What a desktop template (template.json "desktop") adds to a QEMU VM: the identity the guest's
// vdi-identity unit reads from fw_cfg (hostname, user, the per-VM password only this node holds),
// the guest agent's channel, an absolute pointer, and the guest's RDP port forwarded to a port
// on the node's loopback. docs/rdp.md.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "@vdi/durable-file";
import type { EngineVmSpec } from "../engine.ts";

export const desktopTraitsSchema = z.object({
  /** The guest's RDP server port. */
  rdpPort: z.number().int().min(1).max(65535),
  identity: z.literal("fw_cfg"),
  guestAgent: z.boolean().default(true),
  /** The clipboard on the VNC console: QEMU's own vdagent, spoken to by spice-vdagent in the guest. */
  vncClipboard: z.boolean().default(true),
  /** How long "Shut down" waits for the guest after the ACPI power button before powering it off. */
  shutdownGraceSec: z.number().int().min(0).max(600).default(90),
});
export type DesktopTraits = z.infer<typeof desktopTraitsSchema>;

/** The desktop traits of a manifest, or null for a template without a desktop. */
export function desktopOf(manifest: object): DesktopTraits | null {
  const traits = (manifest as { desktop?: unknown }).desktop;
  if (traits === undefined) return null;
  const parsed = desktopTraitsSchema.safeParse(traits);
  return parsed.success ? parsed.data : null;
}

export interface DesktopCredentials { user: string; password: string }

/** The guest's desktop user; the VM's portal name does not always make a valid user name. */
export const DESKTOP_USER = "user";

export interface DesktopFiles {
  /** The per-VM credentials (JSON, 0600, the agent's): made once, kept for the VM's life. */
  credentials: string;
  /** What QEMU hands the guest in fw_cfg (0600, read by QEMU before it drops to the VM's user). */
  identity: string;
  /** The guest agent's socket. */
  qgaSock: string;
  /** The loopback port the guest's RDP port is forwarded to in this run of QEMU. */
  rdpPortFile: string;
}

export function desktopFiles(vmDir: string): DesktopFiles {
  return {
    credentials: join(vmDir, "desktop-credentials.json"),
    identity: join(vmDir, "identity.cfg"),
    qgaSock: join(vmDir, "qga.sock"),
    rdpPortFile: join(vmDir, "rdp-port"),
  };
}

const credentialsSchema = z.object({ user: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/), password: z.string().regex(/^[A-Za-z0-9_-]{24,128}$/) });

/** The VM's desktop credentials, made on first use (24 random bytes, base64url). */
export function desktopCredentials(files: DesktopFiles): DesktopCredentials {
  if (existsSync(files.credentials)) {
    // An unreadable record gets new credentials: the guest takes them at its next boot.
    let json: unknown = null;
    try { json = JSON.parse(readFileSync(files.credentials, "utf8")); } catch { /* made again below */ }
    const parsed = credentialsSchema.safeParse(json);
    if (parsed.success) return parsed.data;
  }
  const made = { user: DESKTOP_USER, password: randomBytes(24).toString("base64url") };
  writeFileAtomic(files.credentials, JSON.stringify(made), 0o600);
  return made;
}

/** A guest hostname from the VM's name (RFC 1123 label), or the VM id's tail when none is left. */
export function guestHostname(spec: Pick<EngineVmSpec, "id" | "name">): string {
  const h = spec.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "");
  return h || `vm-${spec.id.slice(-8).toLowerCase()}`;
}

/** Writes the identity file QEMU hands the guest; returns the credentials it carries. */
export function writeIdentity(spec: EngineVmSpec, files: DesktopFiles, keyboard = "us"): DesktopCredentials {
  const creds = desktopCredentials(files);
  writeFileAtomic(files.identity, `hostname=${guestHostname(spec)}\nuser=${creds.user}\npassword=${creds.password}\nkeyboard=${keyboard}\n`, 0o600);
  return creds;
}

/** A free TCP port on the loopback (asked of the kernel; QEMU binds it a moment later). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** QEMU arguments for the desktop's devices (the RDP forward goes on the user network's card). */
export function desktopArgs(traits: DesktopTraits, files: DesktopFiles): string[] {
  return [
    "-fw_cfg", `name=opt/vdi/identity,file=${files.identity}`,
    // An absolute pointer: the browser's pointer and the guest's stay in one place.
    "-device", "virtio-tablet-pci",
    ...(traits.guestAgent || traits.vncClipboard ? ["-device", "virtio-serial-pci"] : []),
    ...(traits.guestAgent ? [
      "-chardev", `socket,id=qga0,path=${files.qgaSock},server=on,wait=off`,
      "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    ] : []),
    // QEMU's VNC server speaks the extended clipboard with the browser and hands it to the
    // guest's spice-vdagent over this port (the mouse stays the tablet's).
    ...(traits.vncClipboard ? [
      "-chardev", "qemu-vdagent,id=vdagent0,clipboard=on,mouse=off",
      "-device", "virtserialport,chardev=vdagent0,name=com.redhat.spice.0",
    ] : []),
  ];
}

/** The user network's forward of the guest's RDP port to the node's loopback. */
export function rdpForward(traits: DesktopTraits, hostPort: number): string {
  return `hostfwd=tcp:127.0.0.1:${hostPort}-:${traits.rdpPort}`;
}
