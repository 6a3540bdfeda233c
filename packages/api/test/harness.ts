// Test databases on both providers: a fresh SQLite file, or a fresh PostgreSQL database.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { TRPCError } from "@trpc/server";
import { createDb, type Db } from "@vdi/db";
import { migrate } from "@vdi/db/migrate";
import { CLIENT_IP_HEADER } from "../src/lib/client-ip.ts";
import {
  appRouter, createAuth, createCallerFactory, createConsoleSigner, generateConsoleKeyPem,
  ensureTenant, ensureUser, type ApiDeps, type Actor, type Context,
} from "../src/index.ts";

/** PostgreSQL server for the suite, from VDI_TEST_PG_URL (scripts/test.sh starts Debian's server). */
export const PG_ADMIN_URL = process.env.VDI_TEST_PG_URL ?? "";

export const providers = PG_ADMIN_URL ? (["sqlite", "postgresql"] as const) : (["sqlite"] as const);
// On a developer's machine a missing server is a printed skip; in CI it is a failure, or the
// PostgreSQL half of every service test would quietly stop running.
const inCi = /^(1|true|yes)$/i.test(process.env.CI ?? "");
if (!PG_ADMIN_URL && inCi) {
  throw new Error("VDI_TEST_PG_URL is not set but CI is: the service tests must run on PostgreSQL too (scripts/test.sh starts Debian's server; scripts/setup.sh --test installs it)");
}
if (!PG_ADMIN_URL) console.warn("[skip] PostgreSQL service tests: VDI_TEST_PG_URL is not set (scripts/test.sh sets it)");

const callerFactory = createCallerFactory(appRouter);
type Caller = ReturnType<typeof callerFactory>;

export interface TestApi {
  deps: ApiDeps;
  db: Db;
  /** The test database's URL (another process may open it too). */
  databaseUrl: string;
  caller(actor: Actor | null, headers?: Headers): Caller;
  makeUser(tenantSlug: string, role?: Actor["role"]): Promise<Actor>;
  close(): Promise<void>;
}

export async function openTestApi(provider: "sqlite" | "postgresql"): Promise<TestApi> {
  let url: string;
  let cleanup: () => Promise<void>;
  if (provider === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "vdi-test-"));
    url = `file:${join(dir, "test.db")}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const name = `vdi_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    cleanup = async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  await migrate(url);
  const db = createDb(url);
  const auth = createAuth({ db, provider, secret: randomBytes(32).toString("hex"), baseURL: "http://localhost:3000" });
  const deps: ApiDeps = {
    db, auth,
    consoleSigner: createConsoleSigner(generateConsoleKeyPem()),
    nodeJoinToken: "test-join-token-0123456789",
    nodeDownAfterMs: 20_000,
  };
  return {
    deps, db, databaseUrl: url,
    caller(actor, headers = new Headers()) {
      const ctx: Context = { ...deps, headers, resHeaders: new Headers(), ip: headers.get(CLIENT_IP_HEADER) ?? "127.0.0.1", actor };
      return callerFactory(ctx);
    },
    async makeUser(tenantSlug, role = "user") {
      const t = await ensureTenant(db, tenantSlug, `Tenant ${tenantSlug}`);
      const email = `${role}-${randomBytes(4).toString("hex")}@${tenantSlug}.test`;
      const u = await ensureUser({ db, auth }, { email, name: email, password: "password-123", tenantId: t.id, role });
      return { userId: u.id, tenantId: t.id, role, email, name: u.name, via: "session", scopes: null };
    },
    async close() {
      await db.$disconnect();
      await cleanup();
    },
  };
}

/** Serves the API over HTTP (tRPC standalone adapter) for node agents under test. */
export async function serveApi(deps: ApiDeps): Promise<{ url: string; close(): Promise<void> }> {
  const { createHTTPServer } = await import("@trpc/server/adapters/standalone");
  const { createContext } = await import("../src/index.ts");
  const server = createHTTPServer({
    basePath: "/api/trpc/",
    router: appRouter,
    createContext: ({ req }) => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      return createContext(deps, { headers, resHeaders: new Headers() });
    },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address() as import("node:net").AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** What a call ends in, as "CODE: message" (or "ok"), for asserting refusals in words. */
export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
  }
  return "ok";
}
