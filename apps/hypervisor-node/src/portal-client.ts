// Talks to the portal: registers with the join token, then syncs with its own credentials. The
// procedures and their schemas are the wire contract (@vdi/node-protocol); every answer is checked
// against it, so a portal of another version, or a proxy's error page, is a clear error here.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { nodeWire, type NodeWire, type WireInput, type WireOutput } from "@vdi/node-protocol";
import { BodyTooLarge, readCapped } from "@vdi/node-protocol/read-capped";
import { writeFileAtomic } from "@vdi/durable-file";

export { nodeBearer } from "@vdi/node-protocol";

const credentialsSchema = z.object({ nodeId: z.string(), secret: z.string(), consolePublicKeyPem: z.string(), portalUrl: z.string() });
export type NodeCredentials = z.infer<typeof credentialsSchema>;

/** The largest answer read from the portal (a desired set of many VMs is a few MiB). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** A refused or failed call: the portal's tRPC code (UNAUTHORIZED, CONFLICT …) and its message. */
export class PortalCallError extends Error {
  constructor(readonly path: string, readonly code: string, readonly httpStatus: number, message: string) {
    super(message);
  }
}

const errorBodySchema = z.object({
  error: z.object({ message: z.string().max(10_000), data: z.object({ code: z.string().max(64).optional(), httpStatus: z.number().optional() }).partial().optional() }),
});

export interface PortalClient {
  call<K extends keyof NodeWire>(name: K, input: WireInput<K>, opts?: { signal?: AbortSignal }): Promise<WireOutput<K>>;
}

export function createPortalClient(portalUrl: string, auth: () => string | null, fetchImpl: typeof fetch = fetch): PortalClient {
  const base = `${portalUrl.replace(/\/$/, "")}/api/trpc`;
  return {
    async call(name, input, opts = {}) {
      const p = nodeWire[name];
      const a = auth();
      const headers: Record<string, string> = { ...(a ? { authorization: a } : {}) };
      const url = p.kind === "query" ? `${base}/${p.path}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`}` : `${base}/${p.path}`;
      const res = await fetchImpl(url, {
        method: p.kind === "query" ? "GET" : "POST",
        headers: p.kind === "mutation" ? { ...headers, "content-type": "application/json" } : headers,
        ...(p.kind === "mutation" ? { body: JSON.stringify(input ?? null) } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const text = await readCapped(res.body, res.headers.get("content-length"), MAX_ANSWER_BYTES).then((b) => b.toString("utf8"), (e: unknown) => {
        if (e instanceof BodyTooLarge) throw new PortalCallError(p.path, "BAD_ANSWER", res.status, `${p.path}: the portal's answer is larger than ${MAX_ANSWER_BYTES} bytes`);
        throw e;
      });
      let body: unknown;
      try { body = JSON.parse(text); } catch {
        throw new PortalCallError(p.path, "BAD_ANSWER", res.status, `${p.path}: the portal answered HTTP ${res.status} with no JSON (${text.slice(0, 120).replace(/\s+/g, " ")})`);
      }
      if (!res.ok) {
        const err = errorBodySchema.safeParse(body);
        if (!err.success) throw new PortalCallError(p.path, "BAD_ANSWER", res.status, `${p.path}: HTTP ${res.status} without a tRPC error`);
        throw new PortalCallError(p.path, err.data.error.data?.code ?? "UNKNOWN", res.status, err.data.error.message);
      }
      const data = (body as { result?: { data?: unknown } } | null)?.result?.data;
      const out = p.output.safeParse(data);
      if (!out.success) {
        const why = out.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
        throw new PortalCallError(p.path, "BAD_ANSWER", res.status, `${p.path}: the portal's answer does not match the wire contract (${why})`);
      }
      return out.data as WireOutput<typeof name>;
    },
  };
}

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

export function saveCredentials(dataDir: string, creds: NodeCredentials): void {
  writeFileAtomic(join(dataDir, "credentials.json"), JSON.stringify(creds), 0o600);
}

export function isUnauthorized(err: unknown): boolean {
  return err instanceof PortalCallError && err.code === "UNAUTHORIZED";
}
