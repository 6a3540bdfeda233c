// Talks to the portal: registers with the join token, then syncs with its own credentials.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import { z } from "zod";
import type { AppRouter } from "@vdi/api/client";
import { writeFileAtomic } from "@vdi/api/atomic-write";

const credentialsSchema = z.object({ nodeId: z.string(), secret: z.string(), consolePublicKeyPem: z.string(), portalUrl: z.string() });
export type NodeCredentials = z.infer<typeof credentialsSchema>;

export function createPortalClient(portalUrl: string, auth: () => string | null) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({
      url: `${portalUrl.replace(/\/$/, "")}/api/trpc`,
      headers: () => {
        const a = auth();
        return a ? { authorization: a } : {};
      },
    })],
  });
}
export type PortalClient = ReturnType<typeof createPortalClient>;

export function loadCredentials(dataDir: string, portalUrl: string): NodeCredentials | null {
  const stored = storedCredentials(dataDir);
  return stored && stored.portalUrl === portalUrl ? stored : null;
}

/** What credentials.json holds, whatever portal URL it was saved for. */
export function storedCredentials(dataDir: string): NodeCredentials | null {
  const file = join(dataDir, "credentials.json");
  if (!existsSync(file)) return null;
  let json: unknown;
  try { json = JSON.parse(readFileSync(file, "utf8")); } catch { return null; }
  const parsed = credentialsSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

export function nodeBearer(creds: Pick<NodeCredentials, "nodeId" | "secret"> | null): string | null {
  return creds ? `Bearer node.${creds.nodeId}.${creds.secret}` : null;
}

export function saveCredentials(dataDir: string, creds: NodeCredentials): void {
  writeFileAtomic(join(dataDir, "credentials.json"), JSON.stringify(creds), 0o600);
}

export function isUnauthorized(err: unknown): boolean {
  return err instanceof TRPCClientError && (err.data as { code?: string } | undefined)?.code === "UNAUTHORIZED";
}
