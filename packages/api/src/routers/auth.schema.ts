// Inputs of the auth procedures.
import { z } from "zod";

export const logInSchema = z.object({
  email: z.string().trim().toLowerCase().email("Enter an email address").max(254),
  password: z.string().min(1, "Enter your password").max(128),
});

/** What an authenticator app shows: 6 digits (spaces people type are dropped). The cap comes before
 * any transform, so no work is done on a long string. */
const totpCode = z.string().max(32, "Enter the 6 digits your authenticator app shows").transform((s) => s.replace(/\s+/g, "")).pipe(z.string().regex(/^\d{6}$/, "Enter the 6 digits your authenticator app shows"));

export const verifyTotpSchema = z.object({ code: totpCode, trustDevice: z.boolean().optional() });

/** Better Auth's backup codes: 10 letters and digits as "xxxxx-xxxxx". */
export const verifyBackupCodeSchema = z.object({
  code: z.string().max(64, "Enter a backup code like abcde-12345").trim().regex(/^[A-Za-z0-9]{5}-?[A-Za-z0-9]{5}$/, "Enter a backup code like abcde-12345")
    .transform((s) => (s.includes("-") ? s : `${s.slice(0, 5)}-${s.slice(5)}`)),
});

export const passwordSchema = z.object({ password: z.string().min(1, "Enter your password").max(128) });
export const confirmTwoFactorSchema = z.object({ code: totpCode });
