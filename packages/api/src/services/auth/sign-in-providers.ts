// Which ways of signing in the login page offers besides email + password.
import type { GenericOAuthConfig } from "better-auth/plugins/generic-oauth";
import { OIDC_PROVIDER_ID, type Auth } from "./auth.ts";

export function signInProviders(auth: Auth): { oidc: { name: string } | null } {
  const plugin = auth.options.plugins.find((p) => p.id === "generic-oauth") as { options?: { config?: GenericOAuthConfig[] } } | undefined;
  const oidc = plugin?.options?.config?.find((c) => c.providerId === OIDC_PROVIDER_ID);
  return { oidc: oidc ? { name: oidc.name ?? "SSO" } : null };
}
