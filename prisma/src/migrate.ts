// Applies the committed SQL migrations in order, each in a transaction, recording what ran.
// (Prisma's own migrate commands need a schema engine download, impossible offline.)
import { readdirSync, readFileSync, existsSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@libsql/client";
import pg from "pg";
import { providerOf } from "./index.ts";

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");
const TABLE = "_vdi_migrations";

function pending(provider: string, applied: Set<string>): { name: string; sql: string }[] {
  const dir = join(MIGRATIONS_DIR, provider);
  if (!existsSync(dir)) throw new Error(`no migrations folder for ${provider}: ${dir}`);
  return readdirSync(dir)
    .filter((n) => !n.startsWith(".") && !applied.has(n))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name, "migration.sql"), "utf8") }));
}

/** Returns the names of the migrations it applied. */
export async function migrate(url: string): Promise<string[]> {
  const provider = providerOf(url);
  const done: string[] = [];
  if (provider === "sqlite") {
    mkdirSync(dirname(url.slice("file:".length)), { recursive: true });
    const client = createClient({ url });
    try {
      await client.execute(`CREATE TABLE IF NOT EXISTS ${TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`);
      await client.execute("PRAGMA journal_mode = WAL");
      const rows = await client.execute(`SELECT name FROM ${TABLE}`);
      for (const m of pending(provider, new Set(rows.rows.map((r) => String(r.name))))) {
        const tx = await client.transaction("write");
        try {
          await tx.executeMultiple(m.sql);
          await tx.execute({ sql: `INSERT INTO ${TABLE} (name, applied_at) VALUES (?, ?)`, args: [m.name, new Date().toISOString()] });
          await tx.commit();
        } catch (err) {
          await tx.rollback();
          throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
        }
        done.push(m.name);
      }
    } finally {
      client.close();
    }
    return done;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // One migrator at a time, even with several portal instances starting together.
    await client.query("SELECT pg_advisory_lock(72010)");
    await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`);
    const rows = await client.query<{ name: string }>(`SELECT name FROM ${TABLE}`);
    for (const m of pending(provider, new Set(rows.rows.map((r) => r.name)))) {
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query(`INSERT INTO ${TABLE} (name, applied_at) VALUES ($1, now())`, [m.name]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      done.push(m.name);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock(72010)").catch(() => undefined);
    await client.end();
  }
  return done;
}
