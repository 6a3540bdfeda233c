// Base procedures: public, authed (any signed-in user), admin (platform admin), node (agents).
import { initTRPC, TRPCError } from "@trpc/server";
import { createHash, timingSafeEqual } from "node:crypto";
import { ZodError } from "zod";
import type { Context } from "./context.ts";
import { APP_ERROR_CODES, isAppError } from "./errors.ts";

const t = initTRPC.context<Context>().create({
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
export const publicProcedure = t.procedure.use(mapErrors);

export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.actor) throw new TRPCError({ code: "UNAUTHORIZED", message: "Please log in" });
  return next({ ctx: { ...ctx, actor: ctx.actor } });
});

export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.actor.role !== "admin") throw new TRPCError({ code: "FORBIDDEN", message: "Platform administrators only" });
  return next();
});

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Node agents authenticate with "Bearer node.<nodeId>.<secret>" issued at registration. */
export const nodeProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const m = /^Bearer node\.([a-z0-9]{1,40})\.([A-Za-z0-9_-]{20,200})$/.exec(ctx.headers.get("authorization") ?? "");
  if (!m) throw new TRPCError({ code: "UNAUTHORIZED", message: "Node credentials required" });
  const node = await ctx.db.node.findUnique({ where: { id: m[1]! } });
  const given = Buffer.from(hashSecret(m[2]!));
  if (!node || !timingSafeEqual(Buffer.from(node.secretHash), given)) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "Unknown node or wrong secret" });
  }
  return next({ ctx: { ...ctx, node } });
});
