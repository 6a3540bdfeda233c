// The portal's long-lived server objects, made once per process.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDb, providerOf } from "@vdi/db";
import { createAuth, createConsoleSigner, generateConsoleKeyPem, type ApiDeps } from "@vdi/api";
import { writeFileAtomic } from "@vdi/api/atomic-write";
import { env } from "../env";

function consoleKey(dataDir: string, fromEnv: string | undefined): string {
  if (fromEnv) return fromEnv;
  const file = join(dataDir, "console-signing-key.pem");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileAtomic(file, generateConsoleKeyPem(), 0o600);
  }
  return readFileSync(file, "utf8");
}

function make(): ApiDeps {
  const e = env();
  const db = createDb(e.databaseUrl);
  const auth = createAuth({ db, provider: providerOf(e.databaseUrl), secret: e.BETTER_AUTH_SECRET, baseURL: e.VDI_PUBLIC_URL });
  return {
    db,
    auth,
    consoleSigner: createConsoleSigner(consoleKey(e.dataDir, e.VDI_CONSOLE_PRIVATE_KEY)),
    nodeJoinToken: e.VDI_NODE_JOIN_TOKEN,
    nodeDownAfterMs: e.VDI_NODE_DOWN_AFTER_MS,
  };
}

const KEY = Symbol.for("vdi.portal.deps");
const g = globalThis as unknown as Record<symbol, ApiDeps | undefined>;
export function deps(): ApiDeps {
  g[KEY] ??= make();
  return g[KEY];
}
