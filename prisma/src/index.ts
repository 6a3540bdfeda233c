// The database client: one schema, two providers, picked from the URL scheme.
import { PrismaLibSql } from "@prisma/adapter-libsql";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient as SqliteClient } from "../generated/sqlite/client.ts";
import { PrismaClient as PostgresClient } from "../generated/postgresql/client.ts";

export type Db = SqliteClient;
export type DbProvider = "sqlite" | "postgresql";
export * from "../generated/sqlite/client.ts";

export function providerOf(url: string): DbProvider {
  if (url.startsWith("file:")) return "sqlite";
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return "postgresql";
  throw new Error(`DATABASE_URL must start with file: or postgresql:// (got "${url.split(":")[0]}:")`);
}

/** Model operations that only read: outside a transaction they may run on the SQLite read connection. */
export const READ_OPERATIONS: ReadonlySet<string> = new Set([
  "findUnique", "findUniqueOrThrow", "findFirst", "findFirstOrThrow", "findMany", "count", "aggregate", "groupBy",
]);

export function createDb(url: string): Db {
  if (providerOf(url) === "sqlite") return sqliteWithReadConnection(url);
  // Both clients are generated from the same models, so their query API is identical.
  return new PostgresClient({ adapter: new PrismaPg({ connectionString: url }) }) as unknown as Db;
}

/**
 * SQLite through libsql is one connection behind one mutex, and an interactive transaction holds
 * that mutex from BEGIN to COMMIT, across every await inside it. Every mutation runs in one (the
 * audit middleware), so with 20 create/delete loops every read (vm.list, the node's own sync) queued
 * behind a chain of transactions: the portal sat idle a third of the time while vm.list's p50 was
 * 1.5 s. Reads outside a transaction therefore go to a second connection: in WAL mode (migrate.ts)
 * a reader never waits for the writer and sees every committed write (each read is its own
 * snapshot). Writes, and reads inside a transaction, stay on the one writing connection, so SQLite
 * never sees two writers (a second one would sleep in its busy handler on the event loop, which the
 * first needs to commit). PostgreSQL has a pool and needs none of this. docs/scale.md.
 */
function sqliteWithReadConnection(url: string): Db {
  const writer = new SqliteClient({ adapter: new PrismaLibSql({ url }) });
  const reader = new SqliteClient({ adapter: new PrismaLibSql({ url }) });
  type Delegate = Record<string, (args: unknown) => Promise<unknown>>;
  const routed = writer.$extends({
    query: {
      $allModels: {
        $allOperations(params) {
          const { model, operation, args, query } = params;
          // Prisma's own read-replica extension reads the same field: set inside $transaction.
          const inTransaction = (params as unknown as { __internalParams?: { transaction?: unknown } }).__internalParams?.transaction !== undefined;
          if (inTransaction || !READ_OPERATIONS.has(operation)) return query(args);
          const delegate = (reader as unknown as Record<string, Delegate>)[model.charAt(0).toLowerCase() + model.slice(1)]!;
          return delegate[operation]!(args);
        },
      },
    },
    client: {
      async $disconnect() {
        await Promise.all([writer.$disconnect(), reader.$disconnect()]);
      },
    },
  });
  return routed as unknown as Db;
}
