// People, invitations, quotas and usage of tenants.
import { z } from "zod";
import { adminProcedure, authedProcedure, publicProcedure, router, tenantAdminProcedure } from "../trpc.ts";
import { createTenant, listMembers, listTenants, setMemberAccess, setMemberRole, setQuotas, usageOf } from "../services/tenant/members.ts";
import { setMemberLimits } from "../services/tenant/member-limits.ts";
import { acceptInvitation, describeInvitation, invite, listInvitations, revokeInvitation } from "../services/tenant/invitations.ts";

const id = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid id");
const inviteToken = z.string().min(20).max(64).regex(/^[A-Za-z0-9_-]+$/, "Invalid invitation link");
const quota = (max: number) => z.number().int().min(0).max(max).optional();
/** A member limit: a number, null to lift it (only the tenant quota applies), absent to keep it. */
const memberLimit = (max: number) => z.number().int("Limits are whole numbers").min(0).max(max).nullable().optional();

export const tenantRouter = router({
  usage: authedProcedure.query(({ ctx }) => usageOf(ctx.db, ctx.actor)),
  members: tenantAdminProcedure.input(z.object({ tenantId: id.optional() })).query(({ ctx, input }) => listMembers(ctx.db, ctx.actor, input)),
  setRole: tenantAdminProcedure.input(z.object({ userId: id, role: z.enum(["user", "tenant_admin"]) })).mutation(({ ctx, input }) => setMemberRole(ctx.db, ctx.actor, input)),
  setMemberLimits: tenantAdminProcedure
    .input(z.object({ userId: id, vms: memberLimit(10_000), vcpus: memberLimit(100_000), memoryMiB: memberLimit(100_000_000), diskGiB: memberLimit(10_000_000) }))
    .mutation(({ ctx, input }) => setMemberLimits(ctx.db, ctx.actor, input)),
  setAccess: tenantAdminProcedure.input(z.object({ userId: id, enabled: z.boolean() })).mutation(({ ctx, input }) => setMemberAccess(ctx.db, ctx.actor, input)),
  invite: tenantAdminProcedure
    // tenantId: platform admins only, to give a tenant its first admin (the service refuses others).
    .input(z.object({ email: z.string().trim().toLowerCase().email("Enter an email address").max(254), role: z.enum(["user", "tenant_admin"]).default("user"), tenantId: id.optional() }))
    .mutation(({ ctx, input }) => invite(ctx.db, ctx.actor, input)),
  invitations: tenantAdminProcedure.query(({ ctx }) => listInvitations(ctx.db, ctx.actor)),
  revokeInvitation: tenantAdminProcedure.input(z.object({ invitationId: id })).mutation(({ ctx, input }) => revokeInvitation(ctx.db, ctx.actor, input.invitationId)),
  // The invitee is not logged in yet: the secret in the link is the credential.
  invitation: publicProcedure.input(z.object({ token: inviteToken })).query(({ ctx, input }) => describeInvitation(ctx.db, input.token)),
  acceptInvitation: publicProcedure
    .input(z.object({
      token: inviteToken,
      name: z.string().trim().min(1, "Enter your name").max(100),
      password: z.string().min(12, "Use at least 12 characters").max(128),
    }))
    .mutation(({ ctx, input }) => acceptInvitation(ctx, input, ctx.headers, ctx.resHeaders)),
  // Platform administrators: every tenant.
  list: adminProcedure.query(({ ctx }) => listTenants(ctx.db)),
  create: adminProcedure
    .input(z.object({ slug: z.string().max(41).regex(/^[a-z0-9][a-z0-9-]{1,40}$/, "Use 2-41 lowercase letters, digits and hyphens"), name: z.string().trim().min(1).max(100) }))
    .mutation(({ ctx, input }) => createTenant(ctx.db, input)),
  setQuotas: adminProcedure
    .input(z.object({ tenantId: id, vms: quota(10_000), vcpus: quota(100_000), memoryMiB: quota(100_000_000), diskGiB: quota(10_000_000), snapshots: quota(100_000) }))
    .mutation(({ ctx, input }) => setQuotas(ctx.db, input)),
});
