// OIDC sign-in against a real OAuth2/OIDC server (oauth2-mock-server: discovery, PKCE, RS256 ID
// tokens from its JWKS), the authorization-code flow driven through Better Auth's own endpoints
// as a browser follows the redirects. Only people who already have an account get in.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { randomInt } from "node:crypto";
import { OAuth2Server } from "oauth2-mock-server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { appRouter, createAuth, createCallerFactory, createContext, type Auth } from "../src/index.ts";

const BASE = "http://localhost:3000";

describe.each(providers)("OIDC sign-in on %s", (provider) => {
  let api: TestApi;
  let idp: OAuth2Server;
  let auth: Auth;
  /** Who the identity provider says is signing in, put into the next ID token. */
  let identity: Record<string, unknown> = {};
  let lastAuthorize: Record<string, unknown> = {};

  beforeAll(async () => {
    api = await openTestApi(provider);
    idp = new OAuth2Server();
    await idp.issuer.keys.generate("RS256");
    await idp.start(0, "127.0.0.1");
    idp.service.on("beforeTokenSigning", (token: { payload: Record<string, unknown> }) => Object.assign(token.payload, identity));
    idp.service.on("beforeAuthorizeRedirect", (_redirect: unknown, req: { query: Record<string, unknown> }) => { lastAuthorize = { ...req.query }; });
    auth = createAuth({
      db: api.db, provider, secret: "s".repeat(40), baseURL: BASE,
      oidc: { issuer: `${idp.issuer.url}/`, clientId: "vdi-portal", clientSecret: "vdi-portal-secret", name: "Corp SSO" },
    });
  });
  afterAll(async () => {
    await idp?.stop();
    await api?.close();
  });

  /** Clicks "Sign in with …" and follows every redirect; returns where the browser lands and its cookies. */
  async function signIn(who: { sub: string; email: string; email_verified?: boolean }, extra: Record<string, unknown> = {}) {
    identity = { email_verified: true, name: "Signed In", ...who };
    const ip = `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
    const jar = new Map<string, string>();
    const keep = (res: Response) => {
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(";");
        const eq = pair!.indexOf("=");
        if (!pair!.slice(eq + 1) || /max-age=0\b/i.test(c)) jar.delete(pair!.slice(0, eq));
        else jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
    };
    const headers = () => new Headers({ origin: BASE, "x-vdi-client-ip": ip, ...(jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } : {}) });

    const start = await auth.handler(new Request(`${BASE}/api/auth/sign-in/social`, {
      method: "POST",
      headers: (() => { const h = headers(); h.set("content-type", "application/json"); return h; })(),
      body: JSON.stringify({ provider: "oidc", callbackURL: "/vms", errorCallbackURL: "/login", ...extra }),
    }));
    expect(start.status).toBe(200);
    keep(start);
    const { url } = (await start.json()) as { url: string };
    expect(url.startsWith(`${idp.issuer.url}/authorize?`)).toBe(true);
    // The identity provider signs the person in and sends the browser back with a code.
    const atIdp = await fetch(url, { redirect: "manual" });
    expect(atIdp.status).toBe(302);
    const callback = atIdp.headers.get("location")!;
    expect(callback.startsWith(`${BASE}/api/auth/callback/oidc?`)).toBe(true);
    const back = await auth.handler(new Request(callback, { headers: headers() }));
    keep(back);
    expect(back.status).toBe(302);
    const session = jar.has("vdi.session_token") ? await auth.api.getSession({ headers: headers() }) : null;
    return { landed: back.headers.get("location")!, session, headers };
  }

  it("signs in a person who has an account, linking the provider by email, with PKCE and scopes openid email profile", async () => {
    const user = await api.makeUser("acme");
    const r = await signIn({ sub: "idp-user-1", email: user.email.toUpperCase() });
    expect(r.landed).toBe("/vms");
    expect(r.session?.user.id).toBe(user.userId);
    expect(lastAuthorize).toMatchObject({ response_type: "code", client_id: "vdi-portal", code_challenge_method: "S256", redirect_uri: `${BASE}/api/auth/callback/oidc` });
    expect(String(lastAuthorize.code_challenge)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(String(lastAuthorize.scope).split(" ").sort()).toEqual(["email", "openid", "profile"]);
    expect(await api.db.account.findFirst({ where: { userId: user.userId, providerId: "oidc" } })).toMatchObject({ accountId: "idp-user-1" });
    // The API sees the session as any other.
    const ctx = await createContext({ ...api.deps, auth }, { headers: r.headers(), resHeaders: new Headers() });
    expect(ctx.actor?.userId).toBe(user.userId);
    // Next time the linked account is found by its subject.
    expect((await signIn({ sub: "idp-user-1", email: user.email })).session?.user.id).toBe(user.userId);
    // Both sign-ins are in the audit trail, with who, tenant and the client address.
    const rows = await api.db.auditEvent.findMany({ where: { action: "auth.oidcSignIn", actorId: user.userId } });
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ outcome: "ok", actorEmail: user.email, tenantId: user.tenantId, targetType: "user", targetId: user.userId, via: "session", detail: 'provider="oidc"' });
    expect(rows[0]!.ip).toMatch(/^10\./);
  });

  it("refuses an email with no account, even when the browser asks to sign up", async () => {
    const before = await api.db.user.count();
    for (const extra of [{}, { requestSignUp: true }]) {
      const r = await signIn({ sub: `stranger-${randomInt(1e9)}`, email: "stranger@elsewhere.test" }, extra);
      expect(r.landed).toMatch(/^\/login\?error=signup_disabled/);
      expect(r.session).toBeNull();
    }
    expect(await api.db.user.count()).toBe(before);
    const refused = await api.db.auditEvent.findMany({ where: { action: "auth.oidcSignIn", outcome: "denied", detail: { contains: "signup_disabled" } } });
    expect(refused.length).toBeGreaterThanOrEqual(2);
    expect(refused[0]).toMatchObject({ actorId: null, via: "anonymous" });
  });

  it("refuses a disabled user", async () => {
    const user = await api.makeUser("acme");
    await api.db.user.update({ where: { id: user.userId }, data: { disabledAt: new Date() } });
    const r = await signIn({ sub: "idp-user-2", email: user.email });
    expect(r.landed).toMatch(/^\/login\?error=ACCOUNT_DISABLED/);
    expect(r.session).toBeNull();
    expect(await api.db.session.count({ where: { userId: user.userId } })).toBe(0);
  });

  it("refuses an ID token that was not issued for this portal", async () => {
    const user = await api.makeUser("acme");
    const r = await signIn({ sub: "idp-user-3", email: user.email, aud: "another-client" } as never);
    expect(r.landed).toBe("/login?error=unable_to_get_user_info");
    expect(r.session).toBeNull();
  });

  it("answers 404 over HTTP to every Better Auth endpoint the portal does not use; the tRPC procedures still work", async () => {
    const user = await api.makeUser("acme");
    // A real session cookie, so a refusal cannot be "not signed in".
    const res = new Headers();
    const ctx = await createContext({ ...api.deps, auth }, { headers: new Headers({ "x-vdi-client-ip": "10.9.9.1" }), resHeaders: res });
    await createCallerFactory(appRouter)(ctx).auth.login({ email: user.email, password: "password-123" });
    const cookie = res.getSetCookie().find((c) => c.startsWith("vdi.session_token="))!.split(";")[0]!;
    const post = (path: string, body: unknown) => auth.handler(new Request(`${BASE}/api/auth${path}`, {
      method: "POST", headers: { origin: BASE, cookie, "content-type": "application/json", "x-vdi-client-ip": `10.9.${randomInt(256)}.${randomInt(1, 255)}` }, body: JSON.stringify(body),
    }));
    const stateChanging: Array<[string, unknown]> = [
      ["/change-password", { currentPassword: "password-123", newPassword: "another-password-1", revokeOtherSessions: true }],
      ["/update-user", { name: "Renamed" }],
      ["/change-email", { newEmail: "x@y.test" }],
      ["/delete-user", { password: "password-123" }],
      ["/revoke-sessions", {}],
      ["/revoke-other-sessions", {}],
      ["/sign-out", {}],
      ["/two-factor/enable", { password: "password-123" }],
      ["/two-factor/disable", { password: "password-123" }],
      ["/two-factor/generate-backup-codes", { password: "password-123" }],
      ["/sign-in/email", { email: user.email, password: "password-123" }],
      ["/sign-up/email", { email: "new@acme.test", password: "password-123", name: "New" }],
      ["/request-password-reset", { email: user.email }],
      ["/unlink-account", { providerId: "credential" }],
    ];
    for (const [path, body] of stateChanging) expect([path, (await post(path, body)).status]).toEqual([path, 404]);
    expect((await auth.handler(new Request(`${BASE}/api/auth/get-session`, { headers: { cookie } }))).status).toBe(404);
    // Nothing changed: same name, same password, the session still works.
    expect((await api.db.user.findUniqueOrThrow({ where: { id: user.userId } })).name).toBe(user.name);
    expect((await createContext({ ...api.deps, auth }, { headers: new Headers({ cookie }), resHeaders: new Headers() })).actor?.userId).toBe(user.userId);
    expect((await auth.handler(new Request(`${BASE}/api/auth/ok`))).status).toBe(200);
  });

  it("tells the login page which button to show", async () => {
    const call = (a: Auth) => createCallerFactory(appRouter)({ ...api.deps, auth: a, headers: new Headers(), resHeaders: new Headers(), ip: null, actor: null }).auth.providers();
    expect(await call(auth)).toEqual({ oidc: { name: "Corp SSO" } });
    expect(await call(api.deps.auth)).toEqual({ oidc: null });
  });
});
