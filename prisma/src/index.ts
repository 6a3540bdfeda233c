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

export function createDb(url: string): Db {
  if (providerOf(url) === "sqlite") {
    return new SqliteClient({ adapter: new PrismaLibSql({ url }) });
  }
  // Both clients are generated from the same models, so their query API is identical.
  return new PostgresClient({ adapter: new PrismaPg({ connectionString: url }) }) as unknown as Db;
}
