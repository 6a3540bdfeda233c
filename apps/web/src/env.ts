// The portal's configuration, validated once. Nothing else reads process.env.
import { z } from "zod";
import { resolve } from "node:path";
import { parseTrustedProxies } from "@vdi/api/client-ip";

const schema = z.object({
  VDI_DATA_DIR: z.string().default("../../var/portal"),
  DATABASE_URL: z.string().optional(),
  VDI_PUBLIC_URL: z.string().url().default("http://localhost:3000"),
  BETTER_AUTH_SECRET: z.string().min(32, "BETTER_AUTH_SECRET must be at least 32 characters"),
  VDI_NODE_JOIN_TOKEN: z.string().min(16, "VDI_NODE_JOIN_TOKEN must be at least 16 characters"),
  VDI_CONSOLE_PRIVATE_KEY: z.string().optional(),
  VDI_NODE_DOWN_AFTER_MS: z.coerce.number().int().positive().default(15_000),
  // Placement of new VMs (docs/multi-node.md): spread or pack, and how far the VMs may exceed a node's vCPUs and memory.
  VDI_PLACEMENT: z.enum(["spread", "pack"]).default("spread"),
  VDI_OVERCOMMIT_CPU: z.coerce.number().min(1).max(32).default(4),
  VDI_OVERCOMMIT_MEMORY: z.coerce.number().min(1).max(4).default(1),
  // OIDC sign-in (optional): all three, or none. VDI_OIDC_NAME labels the login button.
  VDI_OIDC_ISSUER: z.string().url("VDI_OIDC_ISSUER must be the issuer's URL").optional(),
  VDI_OIDC_CLIENT_ID: z.string().min(1).optional(),
  VDI_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  VDI_OIDC_NAME: z.string().min(1).max(40).optional(),
  // Proxies whose X-Forwarded-For hops are believed (addresses or CIDR ranges, comma-separated).
  // None by default: the client is the socket's peer, whatever headers it sends. docs/auth.md.
  VDI_TRUSTED_PROXIES: z.string().max(4000).default("").superRefine((v, ctx) => {
    try { parseTrustedProxies(v); } catch (e) { ctx.addIssue({ code: "custom", message: (e as Error).message }); }
  }),
  // Set by scripts/portal-server.mjs, never by hand: the request header in which it passes each
  // request's socket address (Next's route handlers cannot see the socket). Unset under plain
  // `next start` / `next dev`, where the client address is then unknown.
  VDI_PEER_ADDRESS_HEADER: z.string().regex(/^x-[a-z0-9-]{1,60}$/).optional(),
});

function oidcOf(e: z.infer<typeof schema>) {
  const parts = [e.VDI_OIDC_ISSUER, e.VDI_OIDC_CLIENT_ID, e.VDI_OIDC_CLIENT_SECRET];
  if (parts.every((p) => !p)) return null;
  if (!e.VDI_OIDC_ISSUER || !e.VDI_OIDC_CLIENT_ID || !e.VDI_OIDC_CLIENT_SECRET) {
    throw new Error("invalid portal configuration: OIDC sign-in needs VDI_OIDC_ISSUER, VDI_OIDC_CLIENT_ID and VDI_OIDC_CLIENT_SECRET together");
  }
  return { issuer: e.VDI_OIDC_ISSUER, clientId: e.VDI_OIDC_CLIENT_ID, clientSecret: e.VDI_OIDC_CLIENT_SECRET, name: e.VDI_OIDC_NAME };
}

function load() {
  const parsed = schema.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(`invalid portal configuration: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.VDI_DATA_DIR);
  return {
    ...e, dataDir, databaseUrl: e.DATABASE_URL ?? `file:${resolve(dataDir, "vdi.db")}`, oidc: oidcOf(e),
    trustedProxies: e.VDI_TRUSTED_PROXIES ? parseTrustedProxies(e.VDI_TRUSTED_PROXIES) : null,
  };
}

let cached: ReturnType<typeof load> | null = null;
export function env() {
  cached ??= load();
  return cached;
}

const seedSchema = z.object({
  VDI_IMAGE_DIR: z.string().default("../../var/images"),
  VDI_ADMIN_EMAIL: z.string().email().default("admin@vdi.local"),
  VDI_ADMIN_PASSWORD: z.string().min(8),
  VDI_DEMO_EMAIL: z.string().email().default("demo@vdi.local"),
  VDI_DEMO_PASSWORD: z.string().min(8),
});

/** Only the setup script needs these (first-run accounts and where images are). */
export function seedEnv() {
  const parsed = seedSchema.safeParse(process.env);
  if (!parsed.success) throw new Error(`invalid setup configuration: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}
