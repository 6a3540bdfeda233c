// Invitations to a tenant: a tenant admin (or a platform admin, naming any tenant) names an email
// and a role; the invitee opens a link with a one-time secret (only its hash is stored), sets a name
// and password, and is in. Nothing an inviter sees tells whether the email has an account elsewhere.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import type { Auth } from "../auth/auth.ts";
import { createUser } from "../auth/create-user.ts";
import { logIn } from "../auth/log-in.ts";

const TTL_MS = 7 * 24 * 3600 * 1000;
const MAX_OPEN = 100;
const hash = (token: string) => createHash("sha256").update(token).digest("hex");
/**
 * Every refusal of a link that does not lead to a new account: used, revoked, mistyped, or for an
 * email that already has an account (in any tenant). One answer, so that an inviter holding the link
 * learns nothing of other tenants' accounts from it (docs/auth.md, "Invitations").
 */
const NOT_VALID = "This invitation is not valid (used, revoked or mistyped)";
const notValid = () => new AppError("NOT_FOUND", { message: NOT_VALID });

/** The tenant an invitation goes to: the inviter's own, or, for platform admins only, the one they name. */
async function invitingTenant(db: Db, actor: Actor, tenantId: string | undefined): Promise<string> {
  if (tenantId === undefined) return actor.tenantId;
  if (actor.role !== "admin") throw new AppError("FORBIDDEN", { message: "Only platform administrators name the tenant to invite into" });
  if (!(await db.tenant.findUnique({ where: { id: tenantId }, select: { id: true } }))) throw new AppError("NOT_FOUND", { message: "Tenant not found" });
  return tenantId;
}

export async function invite(db: Db, actor: Actor, input: { email: string; role: "user" | "tenant_admin"; tenantId?: string | undefined }) {
  const email = input.email.toLowerCase();
  const tenantId = await invitingTenant(db, actor, input.tenantId);
  // Only this tenant's members are named: whether an email has an account in another tenant is
  // that tenant's business (the invitation is made, and accepting it is refused as a mistyped link is).
  if (await db.user.findFirst({ where: { email, tenantId } })) throw new AppError("CONFLICT", { message: `${email} is already a member of this tenant` });
  const open = await db.invitation.count({ where: { tenantId, acceptedAt: null, expiresAt: { gt: new Date() } } });
  if (open >= MAX_OPEN) throw new AppError("QUOTA_EXCEEDED", { message: `At most ${MAX_OPEN} open invitations per tenant` });
  await db.invitation.deleteMany({ where: { tenantId, email, acceptedAt: null } });
  const token = randomBytes(24).toString("base64url");
  const inv = await db.invitation.create({
    data: { tenantId, email, role: input.role, tokenHash: hash(token), invitedById: actor.userId, expiresAt: new Date(Date.now() + TTL_MS) },
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
  if (!inv || inv.acceptedAt) throw notValid();
  if (inv.expiresAt <= new Date()) throw new AppError("INVALID_STATE", { message: "This invitation has expired: ask for a new one" });
  return inv;
}

/** What the invite page shows before accepting. */
export async function describeInvitation(db: Db, token: string) {
  const inv = await openInvitation(db, token);
  return { email: inv.email, tenant: inv.tenant.name, role: inv.role, expiresAt: inv.expiresAt };
}

export async function acceptInvitation(deps: { db: Db; auth: Auth }, input: { token: string; name: string; password: string }, headers: Headers, resHeaders: Headers) {
  const { db } = deps;
  const inv = await openInvitation(db, input.token);
  // A link makes new accounts only; it never moves or changes one. Checked before the claim, so a
  // refused accept leaves the invitation open (the invitee may yet join once the account is gone).
  if (await db.user.findUnique({ where: { email: inv.email }, select: { id: true } })) throw notValid();
  // Claim it first: of two concurrent accepts, one wins.
  const claimed = await db.invitation.updateMany({ where: { id: inv.id, acceptedAt: null }, data: { acceptedAt: new Date() } });
  if (claimed.count === 0) throw notValid();
  let user: Awaited<ReturnType<typeof createUser>>;
  try {
    user = await createUser(deps, { email: inv.email, name: input.name, password: input.password, tenantId: inv.tenantId, role: inv.role === "tenant_admin" ? "tenant_admin" : "user" });
  } catch (e) {
    // No account was made (another tenant's invitation of the same email won the race): the claim is given back.
    await db.invitation.updateMany({ where: { id: inv.id }, data: { acceptedAt: null } });
    if (isUniqueViolation(e)) throw notValid();
    throw e;
  }
  await logIn(deps, { email: inv.email, password: input.password }, headers, resHeaders);
  return { userId: user.id, tenantId: inv.tenantId };
}

const isUniqueViolation = (e: unknown) => (e as { code?: string } | null)?.code === "P2002";
