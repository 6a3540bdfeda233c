import { z } from "zod";
import { authedProcedure, publicProcedure, router } from "../trpc.ts";
import { logIn, logOut } from "../services/auth/log-in.ts";

const logInSchema = z.object({
  email: z.string().trim().toLowerCase().email("Enter an email address").max(254),
  password: z.string().min(1, "Enter your password").max(128),
});

export const authRouter = router({
  login: publicProcedure.input(logInSchema).mutation(({ ctx, input }) => logIn(ctx.auth, input, ctx.headers, ctx.resHeaders)),
  logout: authedProcedure.mutation(({ ctx }) => logOut(ctx.auth, ctx.headers, ctx.resHeaders)),
  me: publicProcedure.query(({ ctx }) => ctx.actor),
});
