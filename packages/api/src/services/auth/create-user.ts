// Creates (or updates) a user with a password login, inside a tenant.
import type { Db } from "@vdi/db";
import type { Auth } from "./auth.ts";
import { hashPassword } from "./log-in.ts";

export async function ensureTenant(db: Db, slug: string, name: string) {
  return db.tenant.upsert({ where: { slug }, create: { slug, name }, update: {} });
}

export async function ensureUser(
  deps: { db: Db; auth: Auth },
  input: { email: string; name: string; password: string; tenantId: string; role: "admin" | "tenant_admin" | "user" },
) {
  const { db } = deps;
  const email = input.email.toLowerCase();
  const password = await hashPassword(deps.auth, input.password);
  const user = await db.user.upsert({
    where: { email },
    create: { email, name: input.name, role: input.role, tenantId: input.tenantId, emailVerified: true },
    update: { name: input.name, role: input.role, tenantId: input.tenantId },
  });
  const account = await db.account.findFirst({ where: { userId: user.id, providerId: "credential" } });
  if (account) await db.account.update({ where: { id: account.id }, data: { password } });
  else await db.account.create({ data: { userId: user.id, providerId: "credential", accountId: user.id, password } });
  return user;
}

/**
 * Creates a new user with a password login; never touches an existing one (the email is unique, so
 * a second create of the same email fails with Prisma's P2002 and nothing is written).
 */
export async function createUser(
  deps: { db: Db; auth: Auth },
  input: { email: string; name: string; password: string; tenantId: string; role: "tenant_admin" | "user" },
) {
  const email = input.email.toLowerCase();
  const password = await hashPassword(deps.auth, input.password);
  return deps.db.$transaction(async (tx) => {
    const user = await tx.user.create({ data: { email, name: input.name, role: input.role, tenantId: input.tenantId, emailVerified: true } });
    await tx.account.create({ data: { userId: user.id, providerId: "credential", accountId: user.id, password } });
    return user;
  });
}
