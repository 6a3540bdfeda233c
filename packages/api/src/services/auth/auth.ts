// Authentication through Better Auth: email + password (scrypt), sessions stored in our database,
// TOTP second factor, and OIDC sign-in when configured. Design notes: docs/auth.md.
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { APIError } from "better-auth/api";
import { genericOAuth } from "better-auth/plugins/generic-oauth";
import { twoFactor } from "better-auth/plugins/two-factor";
import type { Db, DbProvider } from "@vdi/db";
import { CLIENT_IP_HEADER } from "../../lib/client-ip.ts";
import { auditBrowserSignIns, browserPathsOnly } from "./auth-http.ts";

/** The OpenID Connect provider people may sign in with (portal env VDI_OIDC_*). */
export interface OidcConfig {
  /** Issuer URL; discovery is read from `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Shown on the login page as "Sign in with <name>". */
  name?: string | undefined;
}

export interface AuthOptions {
  db: Db;
  provider: DbProvider;
  secret: string;
  baseURL: string;
  oidc?: OidcConfig | null | undefined;
}

export const OIDC_PROVIDER_ID = "oidc";
/** Where Better Auth's endpoints are mounted (apps/web/src/app/api/auth/[...all]); its default. */
export const AUTH_BASE_PATH = "/api/auth";
export const ACCOUNT_DISABLED = { code: "ACCOUNT_DISABLED", message: "This account has been disabled" } as const;

/**
 * Better Auth's two-factor plugin, less the columns our TwoFactor table does not have
 * (verified, failedVerificationCount, lockedUntil): the adapter only writes fields the plugin's
 * schema names, so without them it stores what the table holds. "Verified" is then the user's
 * twoFactorEnabled (the confirm step sets it; services/auth/two-factor-setup.ts clears unconfirmed
 * rows), and the account lockout that needs the counters is off; the per-challenge cap of 5
 * attempts and the rate limits stay.
 */
function twoFactorForOurSchema() {
  const plugin = twoFactor({
    issuer: "VDI",
    accountLockout: { enabled: false },
    backupCodeOptions: { amount: 10, length: 10, storeBackupCodes: "encrypted" },
  });
  const { verified: _v, failedVerificationCount: _f, lockedUntil: _l, ...fields } = plugin.schema.twoFactor.fields;
  return { ...plugin, schema: { ...plugin.schema, twoFactor: { ...plugin.schema.twoFactor, fields } } } as unknown as typeof plugin;
}

export function createAuth({ db, provider, secret, baseURL, oidc }: AuthOptions) {
  const issuer = oidc?.issuer.replace(/\/+$/, "");
  return betterAuth({
    appName: "VDI",
    database: prismaAdapter(db, { provider }),
    secret,
    baseURL,
    basePath: AUTH_BASE_PATH,
    trustedOrigins: [baseURL],
    telemetry: { enabled: false },
    // On in every mode (Better Auth enables it only in production by default), per client address,
    // in memory (one portal process): two-factor 3 per 10 s, 100 per 10 s elsewhere. Password
    // sign-ins get 30 a minute, not Better Auth's 3 per 10 s: an office's thin clients log in
    // through one NAT address at nine. Guessing one account's password is slowed per account
    // instead (login-guard.ts).
    rateLimit: { enabled: true, storage: "memory", customRules: { "/sign-in/email": { window: 60, max: 30 } } },
    // Accounts are created by admins and invitations, not by open sign-up.
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 8, maxPasswordLength: 128 },
    session: { expiresIn: 60 * 60 * 12, updateAge: 60 * 60 },
    account: {
      // OIDC sign-in finds the existing account by email and links it; the provider the operator
      // configured is trusted to assert the email. The local email must be verified (it is for
      // accounts made by admins and invitations).
      accountLinking: { enabled: true, trustedProviders: oidc ? [OIDC_PROVIDER_ID] : [], requireLocalEmailVerified: true },
    },
    user: {
      additionalFields: {
        role: { type: "string", input: false, required: false, defaultValue: "user" },
        tenantId: { type: "string", input: false, required: true },
      },
    },
    databaseHooks: {
      session: {
        create: {
          // Every way in (password, the TOTP step, OIDC) ends in a new session: a revoked user gets none.
          before: async (session) => {
            const user = await db.user.findUnique({ where: { id: session.userId }, select: { disabledAt: true } });
            if (!user || user.disabledAt) throw new APIError("FORBIDDEN", { ...ACCOUNT_DISABLED });
          },
        },
      },
    },
    // Browsers reach only the OIDC sign-in over HTTP; those sign-ins are audited (auth-http.ts).
    hooks: { after: auditBrowserSignIns(db) },
    plugins: [
      browserPathsOnly(AUTH_BASE_PATH),
      twoFactorForOurSchema(),
      genericOAuth({
        config: oidc && issuer ? [{
          providerId: OIDC_PROVIDER_ID,
          name: oidc.name ?? "SSO",
          discoveryUrl: `${issuer}/.well-known/openid-configuration`,
          clientId: oidc.clientId,
          clientSecret: oidc.clientSecret,
          scopes: ["openid", "email", "profile"],
          pkce: true,
          requireIdTokenVerification: true,
          // Sign-in only: nobody gets an account by signing in (not even by asking with requestSignUp).
          disableImplicitSignUp: true,
          disableSignUp: true,
        }] : [],
      }),
    ],
    advanced: {
      cookiePrefix: "vdi",
      database: { generateId: false },
      // CSRF, first layer: cookies never ride along on cross-site subrequests or POSTs, scripts
      // cannot read them, and they travel only over TLS when the portal is served over https.
      useSecureCookies: baseURL.startsWith("https://"),
      defaultCookieAttributes: { sameSite: "lax", httpOnly: true },
      // Better Auth skips its Origin check under NODE_ENV=test; tests must see what production does.
      disableOriginCheck: false,
      // The client address for rate limits and sessions: only the header the portal sets from the
      // socket and its trusted proxies (lib/client-ip.ts), never X-Forwarded-For, which a client
      // writes as it likes (Next.js fills it in only when it is missing).
      ipAddress: { ipAddressHeaders: [CLIENT_IP_HEADER] },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;
