// The node agent's configuration, validated once. Nothing else reads process.env.
import { z } from "zod";
import { hostname, cpus, totalmem } from "node:os";
import { resolve } from "node:path";

const schema = z.object({
  VDI_PORTAL_URL: z.string().url().default("http://127.0.0.1:3000"),
  VDI_NODE_NAME: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).default(hostname().toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 63) || "node"),
  VDI_NODE_JOIN_TOKEN: z.string().min(16, "VDI_NODE_JOIN_TOKEN must be at least 16 characters"),
  VDI_NODE_HOST: z.string().default("127.0.0.1"),
  VDI_NODE_PORT: z.coerce.number().int().min(0).max(65535).default(4100),
  /** Public base URL of the console gateway as browsers reach it. */
  VDI_NODE_CONSOLE_URL: z.string().regex(/^wss?:\/\//).optional(),
  VDI_NODE_DATA_DIR: z.string().optional(),
  VDI_IMAGE_DIR: z.string().default(resolve("var/images")),
  VDI_QEMU_BINARY: z.string().default("qemu-system-x86_64"),
  VDI_QEMU_IMG_BINARY: z.string().default("qemu-img"),
  VDI_QEMU_ACCEL: z.enum(["auto", "kvm", "tcg"]).default("auto"),
  /** The KVM device node; a path that does not exist (/nonexistent) hides KVM from the node, its engines and the tests. */
  VDI_KVM_DEVICE: z.string().min(1).max(4096).default("/dev/kvm"),
  VDI_NODE_CPUS: z.coerce.number().int().positive().default(cpus().length),
  VDI_NODE_MEMORY_MIB: z.coerce.number().int().positive().default(Math.floor(totalmem() / 1048576)),
  /**
   * Origins whose pages may open consoles (comma-separated). Unset: the portal's own, the origin of
   * VDI_PORTAL_URL. "*": any origin (the console token is then the only check; for setups where
   * browsers reach the portal under names the node cannot list).
   */
  VDI_NODE_ALLOWED_ORIGINS: z.string().max(4000).optional(),
  /** Comma-separated IPv4 ranges guests with outbound access may not reach (the node's own addresses never are). */
  VDI_EGRESS_DENY: z.string().max(4000).regex(/^\s*(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?\s*(,\s*|$))*$/, "IPv4 ranges like 192.168.0.0/16, comma-separated").default(""),
  /** Connections the node's server holds at once (all addresses; also capped by the open-file limit). */
  VDI_NODE_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).optional(),
  /** Connections one remote address may hold at once. */
  VDI_NODE_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).optional(),
  /** A console with no keyboard, pointer or clipboard input for this long is closed. */
  VDI_CONSOLE_IDLE_MINUTES: z.coerce.number().positive().default(30),
  /** CPU and memory limits for engine processes in cgroups (v1 or v2, found at start); "off": none. */
  VDI_ENGINE_CGROUPS: z.enum(["auto", "off"]).default("auto"),
  /** Tests only: "<op kind>:<step>[:engine]" kills this agent (or the VM's engine) at that step. */
  VDI_AGENT_FAULT: z.string().regex(/^[a-z-]+:[a-z-]+(:engine)?$/).optional(),
});

export type NodeEnv = ReturnType<typeof loadEnv>;

export function loadEnv(source: Record<string, string | undefined> = process.env) {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    throw new Error(`invalid node configuration: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const e = parsed.data;
  return {
    ...e,
    dataDir: resolve(e.VDI_NODE_DATA_DIR ?? `var/node/${e.VDI_NODE_NAME}`),
    imageDir: resolve(e.VDI_IMAGE_DIR),
    consoleUrl: e.VDI_NODE_CONSOLE_URL ?? `ws://${e.VDI_NODE_HOST}:${e.VDI_NODE_PORT}`,
    allowedOrigins: allowedOriginsOf(e.VDI_NODE_ALLOWED_ORIGINS, e.VDI_PORTAL_URL),
    egressDeny: e.VDI_EGRESS_DENY.split(",").map((s) => s.trim()).filter(Boolean),
  };
}

/** The console gateway's Origin allow-list: the portal's origin unless told otherwise; "any" only when asked. */
function allowedOriginsOf(setting: string | undefined, portalUrl: string): string[] | "any" {
  const list = (setting ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) return [new URL(portalUrl).origin];
  if (list.includes("*")) {
    if (list.length > 1) throw new Error("invalid node configuration: VDI_NODE_ALLOWED_ORIGINS is either * or a list of origins");
    return "any";
  }
  return list.map((o) => {
    // Browsers send an origin as scheme://host[:port], no path and no trailing slash.
    const origin = URL.canParse(o) ? new URL(o).origin : "null";
    if (origin === "null" || origin !== o.replace(/\/+$/, "")) throw new Error(`invalid node configuration: VDI_NODE_ALLOWED_ORIGINS: "${o}" is not an origin like https://portal.example`);
    return origin;
  });
}
