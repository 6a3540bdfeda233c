// Logging in and out, the two-factor step, and managing one's own two-factor authentication.
import { authedProcedure, publicProcedure, router } from "../trpc.ts";
import { logIn, logOut } from "../services/auth/log-in.ts";
import { verifyBackupCode, verifyTotp } from "../services/auth/two-factor-login.ts";
import { confirmTwoFactor, disableTwoFactor, enableTwoFactor, twoFactorStatus } from "../services/auth/two-factor-setup.ts";
import { signInProviders } from "../services/auth/sign-in-providers.ts";
import { confirmTwoFactorSchema, logInSchema, passwordSchema, verifyBackupCodeSchema, verifyTotpSchema } from "./auth.schema.ts";

export const authRouter = router({
  login: publicProcedure.input(logInSchema).mutation(({ ctx, input }) => logIn(ctx, input, ctx.headers, ctx.resHeaders)),
  verifyTotp: publicProcedure.input(verifyTotpSchema).mutation(({ ctx, input }) => verifyTotp(ctx, input, ctx.headers, ctx.resHeaders)),
  verifyBackupCode: publicProcedure.input(verifyBackupCodeSchema).mutation(({ ctx, input }) => verifyBackupCode(ctx, input, ctx.headers, ctx.resHeaders)),
  logout: authedProcedure.mutation(({ ctx }) => logOut(ctx.auth, ctx.headers, ctx.resHeaders)),
  me: publicProcedure.query(({ ctx }) => ctx.actor),
  providers: publicProcedure.query(({ ctx }) => signInProviders(ctx.auth)),

  twoFactorStatus: authedProcedure.query(({ ctx }) => twoFactorStatus(ctx, ctx.actor)),
  enableTwoFactor: authedProcedure.input(passwordSchema).mutation(({ ctx, input }) => enableTwoFactor(ctx, ctx.actor, input, ctx.headers)),
  confirmTwoFactor: authedProcedure.input(confirmTwoFactorSchema).mutation(({ ctx, input }) => confirmTwoFactor(ctx, ctx.actor, input, ctx.headers, ctx.resHeaders)),
  disableTwoFactor: authedProcedure.input(passwordSchema).mutation(({ ctx, input }) => disableTwoFactor(ctx, ctx.actor, input, ctx.headers, ctx.resHeaders)),
});
