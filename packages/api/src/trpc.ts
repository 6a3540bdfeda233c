// Base procedures: public, authed (any signed-in user), admin (platform admin), node (agents).
import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import type { Context } from "./context.ts";
import { APP_ERROR_CODES, isAppError } from "./errors.ts";
import type { Db } from "@vdi/db";
import { isAudited, recordCall, recordCallAfter, validatedInput, type AuditedCall } from "./audit-trail.ts";
import { holdingEmits } from "./lib/bus.ts";
import { nestsDeeperThan, NESTED_TOO_DEEPLY } from "./lib/input-shape.ts";
import { requiredScope } from "./services/api-token/scopes.ts";
import { nodeCredentialsOf, secretMatches } from "./services/node/node-credentials.ts";
import { noteNodeHeard } from "./services/node/node-health.ts";

/** Who may call a procedure; the authorization matrix test reads it from every procedure. */
export type Access = "public" | "user" | "tenant_admin" | "admin" | "node";

const t = initTRPC.context<Context>().meta<{ access: Access }>().create({
  errorFormatter({ shape, error }) {
    const zod = error.cause instanceof ZodError ? error.cause : null;
    return {
      ...shape,
      // Never ship stacks or internals to clients.
      message: error.code === "INTERNAL_SERVER_ERROR" ? "Internal error" : shape.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        appCode: isAppError(error.cause) ? error.cause.code : null,
        fieldErrors: zod ? zod.issues.map((i) => ({ path: i.path.join("."), message: i.message })) : null,
      },
    };
  },
});

/** Turns AppErrors thrown by services into TRPCErrors with the mapped code. */
const mapErrors = t.middleware(async ({ next }) => {
  const res = await next();
  if (!res.ok && res.error.cause instanceof ZodError) {
    // Bad input reads as sentences ("name: Snapshot names are at most 64 characters"), not a JSON dump.
    const cause = res.error.cause;
    const message = cause.issues.slice(0, 5).map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("; ");
    throw new TRPCError({ code: "BAD_REQUEST", message, cause });
  }
  if (!res.ok && isAppError(res.error.cause)) {
    const cause = res.error.cause;
    throw new TRPCError({ code: APP_ERROR_CODES[cause.code], message: cause.message, cause });
  }
  return res;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Refuses input that nests deeper than any procedure's (lib/input-shape.ts) before zod or the trail recurse into it. */
const inputShape = t.middleware(async ({ getRawInput, next }) => {
  if (nestsDeeperThan(await getRawInput())) throw new TRPCError({ code: "BAD_REQUEST", message: NESTED_TOO_DEEPLY });
  return next();
});

/**
 * Procedures whose change Better Auth writes through its own connection, which cannot join ours
 * (on SQLite it would wait for our transaction's lock): their line is written after the change.
 */
const OUTSIDE_TRANSACTION = (path: string) => path.startsWith("auth.") || path === "tenant.acceptInvitation";

class Rollback extends Error {}

/**
 * Records every mutation, with its outcome, in the audit trail. A change and its line are one
 * transaction: the procedure runs on a transaction client (services' own transactions nest in it as
 * savepoints), the "ok" line is written in it, and if that write fails the change is rolled back.
 * A refused or failed call's partial writes are rolled back too; its line is written afterwards.
 */
const audit = t.middleware(async ({ ctx, path, type, getRawInput, next }) => {
  if (!isAudited(path, type)) return next();
  const raw = await getRawInput().catch(() => undefined);
  const input = nestsDeeperThan(raw) ? undefined : await validatedInput(path, raw);
  const failed = (res: { error: TRPCError }): AuditedCall => ({ path, input, ok: false, errorCode: res.error.code, errorMessage: res.error.message });
  if (OUTSIDE_TRANSACTION(path)) {
    const res = await next();
    await recordCallAfter(ctx.db, ctx, res.ok ? { path, input, ok: true, result: res.data } : failed(res));
    return res;
  }
  let res: Awaited<ReturnType<typeof next>> | undefined;
  let announce = () => {};
  try {
    await ctx.db.$transaction(async (tx) => {
      const held = await holdingEmits(() => next({ ctx: { db: tx as unknown as Db } }));
      res = held.value;
      if (!res.ok) throw new Rollback();
      await recordCall(tx as unknown as Db, ctx, { path, input, ok: true, result: res.data });
      announce = held.announce;
    }, { maxWait: 10_000, timeout: 30_000 });
  } catch (e) {
    if (!(e instanceof Rollback)) {
      // Nothing was changed: the line (or the commit) failed, and the change went with it.
      console.error(`audit: ${path} rolled back: ${(e as Error).message}`);
      const error = res && !res.ok ? res.error : new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "Not done: the change could not be recorded", cause: e });
      await recordCallAfter(ctx.db, ctx, failed({ error }));
      throw error;
    }
  }
  announce();
  if (!res!.ok) await recordCallAfter(ctx.db, ctx, failed(res as { error: TRPCError }));
  return res!;
});

export const publicProcedure = t.procedure.meta({ access: "public" }).use(audit).use(inputShape).use(mapErrors);

/** API tokens reach only what their scopes name (services/api-token/scopes.ts); a path not listed there is refused. */
const tokenScopes = t.middleware(({ ctx, path, type, next }) => {
  if (ctx.actor?.via !== "token") return next();
  const needed = requiredScope(path, type);
  if (!needed) throw new TRPCError({ code: "FORBIDDEN", message: `API tokens cannot call ${path}` });
  if (!ctx.actor.scopes?.includes(needed)) throw new TRPCError({ code: "FORBIDDEN", message: `This API token lacks the "${needed}" scope that ${path} needs` });
  return next();
});

export const authedProcedure = publicProcedure.meta({ access: "user" }).use(({ ctx, next }) => {
  if (!ctx.actor) throw new TRPCError({ code: "UNAUTHORIZED", message: ctx.authError ?? "Please log in" });
  return next({ ctx: { ...ctx, actor: ctx.actor } });
}).use(tokenScopes);

export const adminProcedure = authedProcedure.meta({ access: "admin" }).use(({ ctx, next }) => {
  if (ctx.actor.role !== "admin") throw new TRPCError({ code: "FORBIDDEN", message: "Platform administrators only" });
  return next();
});

/** Tenant admins (and platform admins) manage users, invitations and quotas of their tenant. */
export const tenantAdminProcedure = authedProcedure.meta({ access: "tenant_admin" }).use(({ ctx, next }) => {
  if (ctx.actor.role !== "admin" && ctx.actor.role !== "tenant_admin") throw new TRPCError({ code: "FORBIDDEN", message: "Tenant administrators only" });
  return next();
});

/** Node agents authenticate with "Bearer node.<nodeId>.<secret>" issued at registration. */
export const nodeProcedure = publicProcedure.meta({ access: "node" }).use(async ({ ctx, next }) => {
  const presented = nodeCredentialsOf(ctx.headers.get("authorization"));
  if (!presented) throw new TRPCError({ code: "UNAUTHORIZED", message: "Node credentials required" });
  const node = await ctx.db.node.findUnique({ where: { id: presented.nodeId } });
  if (!node || !secretMatches(node.secretHash, presented.secret)) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "Unknown node or wrong secret" });
  }
  // Heard now, whatever its writes wait for next, until this request is done (services/node/node-health.ts).
  const done = noteNodeHeard(node.id);
  try {
    return await next({ ctx: { ...ctx, node } });
  } finally {
    done();
  }
});
