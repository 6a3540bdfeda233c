// The portal's long-lived server objects, made once per process.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createApiDeps, generateConsoleKeyPem, startJobRunner, type ApiDeps } from "@vdi/api";
import { writeFileAtomic } from "@vdi/durable-file";
import { env } from "../env";

/** The console-token signing key: from the environment (several portals), else a file made once. */
function consoleKey(dataDir: string, fromEnv: string | undefined): string {
  if (fromEnv) return fromEnv;
  const file = join(dataDir, "console-signing-key.pem");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileAtomic(file, generateConsoleKeyPem(), 0o600);
  }
  return readFileSync(file, "utf8");
}

const KEY = Symbol.for("vdi.portal.deps");
const g = globalThis as unknown as Record<symbol, ApiDeps | undefined>;

export function deps(): ApiDeps {
  if (!g[KEY]) {
    const e = env();
    g[KEY] = createApiDeps({
      databaseUrl: e.databaseUrl,
      authSecret: e.BETTER_AUTH_SECRET,
      publicUrl: e.VDI_PUBLIC_URL,
      consolePrivateKeyPem: consoleKey(e.dataDir, e.VDI_CONSOLE_PRIVATE_KEY),
      nodeJoinToken: e.VDI_NODE_JOIN_TOKEN,
      nodeDownAfterMs: e.VDI_NODE_DOWN_AFTER_MS,
      oidc: e.oidc,
      placement: { mode: e.VDI_PLACEMENT, overcommit: { cpu: e.VDI_OVERCOMMIT_CPU, memory: e.VDI_OVERCOMMIT_MEMORY } },
    });
    // The portal's control loops (pool refills, seat timers): the jobs room's runner, leased rows.
    startJobRunner(g[KEY]);
  }
  return g[KEY];
}
