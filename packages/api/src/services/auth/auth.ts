// Authentication through Better Auth: email + password (scrypt), sessions stored in our database.
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import type { Db, DbProvider } from "@vdi/db";

export interface AuthOptions {
  db: Db;
  provider: DbProvider;
  secret: string;
  baseURL: string;
}

export function createAuth({ db, provider, secret, baseURL }: AuthOptions) {
  return betterAuth({
    database: prismaAdapter(db, { provider }),
    secret,
    baseURL,
    trustedOrigins: [baseURL],
    telemetry: { enabled: false },
    // Accounts are created by admins and invitations, not by open sign-up.
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 8, maxPasswordLength: 128 },
    session: { expiresIn: 60 * 60 * 12, updateAge: 60 * 60 },
    user: {
      additionalFields: {
        role: { type: "string", input: false, required: false, defaultValue: "user" },
        tenantId: { type: "string", input: false, required: true },
      },
    },
    advanced: { cookiePrefix: "vdi", database: { generateId: false } },
  });
}

export type Auth = ReturnType<typeof createAuth>;
