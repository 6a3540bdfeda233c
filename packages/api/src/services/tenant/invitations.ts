// Invitations to a tenant: a tenant admin names an email and a role; the invitee opens a link
// with a one-time secret (only its hash is stored), sets a name and password, and is in.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import type { Auth } from "../auth/auth.ts";
import { ensureUser } from "../auth/create-user.ts";
import { logIn } from "../auth/log-in.ts";

const TTL_MS = 7 * 24 * 3600 * 1000;
const MAX_OPEN = 100;
const hash = (token: string) => createHash("sha256").update(token).digest("hex");

export async function invite(db: Db, actor: Actor, input: { email: string; role: "user" | "tenant_admin" }) {
  const email = input.email.toLowerCase();
  // Only this tenant's members are named: whether an email has an account in another tenant is
  // that tenant's business (its invitation is made, and accepting it is refused).
  if (await db.user.findFirst({ where: { email, tenantId: actor.tenantId } })) throw new AppError("CONFLICT", { message: `${email} is already a member of this tenant` });
  const open = await db.invitation.count({ where: { tenantId: actor.tenantId, acceptedAt: null, expiresAt: { gt: new Date() } } });
  if (open >= MAX_OPEN) throw new AppError("QUOTA_EXCEEDED", { message: `At most ${MAX_OPEN} open invitations per tenant` });
  await db.invitation.deleteMany({ where: { tenantId: actor.tenantId, email, acceptedAt: null } });
  const token = randomBytes(24).toString("base64url");
  const inv = await db.invitation.create({
    data: { tenantId: actor.tenantId, email, role: input.role, tokenHash: hash(token), invitedById: actor.userId, expiresAt: new Date(Date.now() + TTL_MS) },
  });
  // The link (a path on the portal) is shown once to the inviting admin; it carries the secret.
  return { invitationId: inv.id, email, path: `/invite/${token}`, expiresAt: inv.expiresAt };
}

export async function listInvitations(db: Db, actor: Actor) {
  return db.invitation.findMany({
    where: { tenantId: actor.tenantId },
    orderBy: { createdAt: "desc" },
    take: 200,
    select: { id: true, email: true, role: true, expiresAt: true, acceptedAt: true, createdAt: true },
  });
}

export async function revokeInvitation(db: Db, actor: Actor, invitationId: string) {
  const r = await db.invitation.deleteMany({ where: { id: invitationId, tenantId: actor.tenantId, acceptedAt: null } });
  if (r.count === 0) throw new AppError("NOT_FOUND", { message: "Invitation not found (or already accepted)" });
  return { invitationId };
}

async function openInvitation(db: Db, token: string) {
  const inv = await db.invitation.findUnique({ where: { tokenHash: hash(token) }, include: { tenant: true } });
  if (!inv || inv.acceptedAt) throw new AppError("NOT_FOUND", { message: "This invitation is not valid (used, revoked or mistyped)" });
  if (inv.expiresAt <= new Date()) throw new AppError("INVALID_STATE", { message: "This invitation has expired: ask for a new one" });
  return inv;
}

/** What the invite page shows before accepting. */
export async function describeInvitation(db: Db, token: string) {
  const inv = await openInvitation(db, token);
  return { email: inv.email, tenant: inv.tenant.name, role: inv.role, expiresAt: inv.expiresAt };
}

export async function acceptInvitation(deps: { db: Db; auth: Auth }, input: { token: string; name: string; password: string }, headers: Headers, resHeaders: Headers) {
  const inv = await openInvitation(deps.db, input.token);
  // Claim it first: of two concurrent accepts, one wins.
  const claimed = await deps.db.invitation.updateMany({ where: { id: inv.id, acceptedAt: null }, data: { acceptedAt: new Date() } });
  if (claimed.count === 0) throw new AppError("NOT_FOUND", { message: "This invitation is not valid (used, revoked or mistyped)" });
  if (await deps.db.user.findUnique({ where: { email: inv.email } })) throw new AppError("CONFLICT", { message: `${inv.email} already has an account` });
  const user = await ensureUser(deps, { email: inv.email, name: input.name, password: input.password, tenantId: inv.tenantId, role: inv.role === "tenant_admin" ? "tenant_admin" : "user" });
  await logIn(deps, { email: inv.email, password: input.password }, headers, resHeaders);
  return { userId: user.id, tenantId: inv.tenantId };
}
