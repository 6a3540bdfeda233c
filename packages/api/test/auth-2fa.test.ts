// TOTP second factor through the API as a browser uses it (cookies carried between calls): turn
// it on with the password, confirm with a first code, log in with a code or a one-time backup
// code, turn it off; wrong codes, revoked users, rate limits, cross-site requests and cookies.
// Codes are computed here by our own RFC 6238 implementation, not Better Auth's.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createHmac, randomInt } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { appRouter, createAuth, createCallerFactory, createContext, type Actor } from "../src/index.ts";
import { logIn } from "../src/services/auth/log-in.ts";

const ORIGIN = "http://localhost:3000";
const PASSWORD = "password-123";

function base32Decode(s: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out: number[] = [];
  for (const ch of s.replace(/=+$/, "").toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP: HMAC-SHA1 over the 30 s step counter, dynamic truncation, 6 digits. */
function totp(secretBase32: string, atMs = Date.now()): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30_000)));
  const mac = createHmac("sha1", base32Decode(secretBase32)).update(counter).digest();
  const off = mac[mac.length - 1]! & 0xf;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** A 6-digit code valid in no step the server accepts (now, one before, one after). */
function wrongCode(secret: string): string {
  const near = new Set([-30_000, 0, 30_000].map((d) => totp(secret, Date.now() + d)));
  let c = (Number(totp(secret)) + 500_000) % 1_000_000;
  while (near.has(String(c).padStart(6, "0"))) c = (c + 1) % 1_000_000;
  return String(c).padStart(6, "0");
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
  return "ok";
}

const callerFactory = createCallerFactory(appRouter);

/** A browser: its own cookie jar and client IP, sending the portal's Origin like the pages do. */
class Browser {
  readonly jar = new Map<string, string>();
  readonly ip = `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
  lastSetCookies: string[] = [];
  constructor(private readonly api: TestApi, public origin = ORIGIN) {}

  headers(): Headers {
    // The address the portal's route handler resolved (apps/web/src/server/client-ip.ts).
    const h = new Headers({ origin: this.origin, "x-vdi-client-ip": this.ip });
    if (this.jar.size) h.set("cookie", [...this.jar].map(([k, v]) => `${k}=${v}`).join("; "));
    return h;
  }

  /** Runs one tRPC call with this browser's cookies and keeps the cookies the answer sets. */
  async call<T>(fn: (c: ReturnType<typeof callerFactory>) => Promise<T>): Promise<T> {
    const resHeaders = new Headers();
    const ctx = await createContext(this.api.deps, { headers: this.headers(), resHeaders });
    try {
      return await fn(callerFactory(ctx));
    } finally {
      this.lastSetCookies = resHeaders.getSetCookie();
      for (const c of this.lastSetCookies) {
        const [pair] = c.split(";");
        const eq = pair!.indexOf("=");
        const name = pair!.slice(0, eq), value = pair!.slice(eq + 1);
        if (!value || /max-age=0\b/i.test(c)) this.jar.delete(name);
        else this.jar.set(name, value);
      }
    }
  }

  has(cookie: string): boolean { return this.jar.has(cookie); }
}

describe.each(providers)("TOTP second factor on %s", (provider) => {
  let api: TestApi;
  beforeAll(async () => { api = await openTestApi(provider); });
  afterAll(async () => api?.close());

  /** Logs a fresh browser in with the password; returns it and what login answered. */
  async function logInAs(user: Actor) {
    const b = new Browser(api);
    const res = await b.call((c) => c.auth.login({ email: user.email, password: PASSWORD }));
    return { b, res };
  }

  /** A user with 2FA on; returns the secret and the backup codes. */
  async function userWith2fa() {
    const user = await api.makeUser("acme");
    const { b } = await logInAs(user);
    const setup = await b.call((c) => c.auth.enableTwoFactor({ password: PASSWORD }));
    await b.call((c) => c.auth.confirmTwoFactor({ code: totp(setup.secret) }));
    return { user, secret: setup.secret, backupCodes: setup.backupCodes };
  }

  it("turns on with the password and a first code, asks for a code at login, refuses wrong ones, takes a backup code once, turns off", async () => {
    const user = await api.makeUser("acme");
    const { b, res } = await logInAs(user);
    expect(res).toEqual({ twoFactorRequired: false, userId: user.userId });
    expect(await b.call((c) => c.auth.twoFactorStatus())).toEqual({ enabled: false, pendingSetup: false, backupCodesLeft: null });

    // On: the password first.
    expect(await outcome(b.call((c) => c.auth.enableTwoFactor({ password: "not-the-password" })))).toBe("BAD_REQUEST: Wrong password");
    const setup = await b.call((c) => c.auth.enableTwoFactor({ password: PASSWORD }));
    expect(setup.totpURI).toMatch(new RegExp(`^otpauth://totp/VDI:${encodeURIComponent(user.email)}\\?secret=[A-Z2-7]+&issuer=VDI&digits=6&period=30$`));
    expect(setup.secret).toMatch(/^[A-Z2-7]{32,}$/);
    expect(setup.backupCodes).toHaveLength(10);
    for (const code of setup.backupCodes) expect(code).toMatch(/^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}$/);
    // Not on until confirmed: logging in still needs only the password; the secret is stored encrypted.
    expect(await b.call((c) => c.auth.twoFactorStatus())).toMatchObject({ enabled: false, pendingSetup: true });
    expect((await logInAs(user)).res).toMatchObject({ twoFactorRequired: false });
    const row = await api.db.twoFactor.findFirstOrThrow({ where: { userId: user.userId } });
    expect(row.secret).not.toContain(setup.secret);
    expect(row.backupCodes).not.toContain(setup.backupCodes[0]);

    // Confirm: a wrong code is refused, the right one turns it on (and replaces the session).
    expect(await outcome(b.call((c) => c.auth.confirmTwoFactor({ code: wrongCode(setup.secret) })))).toMatch(/^UNAUTHORIZED: Wrong code/);
    expect(await outcome(b.call((c) => c.auth.confirmTwoFactor({ code: "12345" })))).toMatch(/^BAD_REQUEST: code: Enter the 6 digits/);
    await b.call((c) => c.auth.confirmTwoFactor({ code: totp(setup.secret) }));
    expect((await api.db.user.findUniqueOrThrow({ where: { id: user.userId } })).twoFactorEnabled).toBe(true);
    expect(await b.call((c) => c.auth.twoFactorStatus())).toEqual({ enabled: true, pendingSetup: false, backupCodesLeft: 10 });
    expect(await outcome(b.call((c) => c.auth.enableTwoFactor({ password: PASSWORD })))).toBe("PRECONDITION_FAILED: Two-factor authentication is already on");

    // Login now stops after the password: no session, a two-factor cookie instead.
    const second = await logInAs(user);
    expect(second.res).toEqual({ twoFactorRequired: true });
    expect(second.b.has("vdi.session_token")).toBe(false);
    expect(second.b.has("vdi.two_factor")).toBe(true);
    expect(second.b.lastSetCookies.find((c) => c.startsWith("vdi.two_factor="))).toMatch(/HttpOnly/i);
    expect(await second.b.call((c) => c.auth.me())).toBeNull();
    expect(await outcome(second.b.call((c) => c.auth.verifyTotp({ code: wrongCode(setup.secret) })))).toMatch(/^UNAUTHORIZED: Wrong code/);
    expect(await second.b.call((c) => c.auth.me())).toBeNull();
    expect(await second.b.call((c) => c.auth.verifyTotp({ code: totp(setup.secret) }))).toEqual({ userId: user.userId });
    expect((await second.b.call((c) => c.auth.me()))?.userId).toBe(user.userId);

    // A backup code works once, in place of the app's code.
    const third = await logInAs(user);
    expect(third.res).toEqual({ twoFactorRequired: true });
    await third.b.call((c) => c.auth.verifyBackupCode({ code: setup.backupCodes[0]! }));
    expect((await third.b.call((c) => c.auth.me()))?.userId).toBe(user.userId);
    const fourth = await logInAs(user);
    expect(await outcome(fourth.b.call((c) => c.auth.verifyBackupCode({ code: setup.backupCodes[0]! })))).toBe("UNAUTHORIZED: Wrong backup code, or one already used");
    expect(await fourth.b.call((c) => c.auth.me())).toBeNull();
    expect(await b.call((c) => c.auth.twoFactorStatus())).toMatchObject({ backupCodesLeft: 9 });

    // No code and no backup code is kept in the audit trail.
    const trail = JSON.stringify(await api.db.auditEvent.findMany());
    expect(trail).toContain("auth.verifyTotp");
    for (const secret of [setup.secret, setup.backupCodes[0]!, PASSWORD]) expect(trail).not.toContain(secret);

    // Off: the password again; then the password alone logs in.
    expect(await outcome(b.call((c) => c.auth.disableTwoFactor({ password: "not-the-password" })))).toBe("BAD_REQUEST: Wrong password");
    await b.call((c) => c.auth.disableTwoFactor({ password: PASSWORD }));
    expect(await api.db.twoFactor.count({ where: { userId: user.userId } })).toBe(0);
    expect((await logInAs(user)).res).toEqual({ twoFactorRequired: false, userId: user.userId });
    expect(await outcome(b.call((c) => c.auth.disableTwoFactor({ password: PASSWORD })))).toBe("PRECONDITION_FAILED: Two-factor authentication is already off");
  });

  it("starts a fresh setup when an earlier one was never confirmed; the old secret is void", async () => {
    const user = await api.makeUser("acme");
    const { b } = await logInAs(user);
    const first = await b.call((c) => c.auth.enableTwoFactor({ password: PASSWORD }));
    const again = await b.call((c) => c.auth.enableTwoFactor({ password: PASSWORD }));
    expect(again.secret).not.toBe(first.secret);
    expect(await api.db.twoFactor.count({ where: { userId: user.userId } })).toBe(1);
    expect(await outcome(b.call((c) => c.auth.confirmTwoFactor({ code: wrongCode(again.secret) })))).toMatch(/^UNAUTHORIZED: Wrong code/);
    await b.call((c) => c.auth.confirmTwoFactor({ code: totp(again.secret) }));
    expect(await b.call((c) => c.auth.twoFactorStatus())).toMatchObject({ enabled: true });
  });

  it("remembers a trusted device for later logins", async () => {
    const { user, secret } = await userWith2fa();
    const { b, res } = await logInAs(user);
    expect(res).toEqual({ twoFactorRequired: true });
    await b.call((c) => c.auth.verifyTotp({ code: totp(secret), trustDevice: true }));
    expect(b.has("vdi.trust_device")).toBe(true);
    expect(await b.call((c) => c.auth.login({ email: user.email, password: PASSWORD }))).toEqual({ twoFactorRequired: false, userId: user.userId });
    // Another browser is still asked.
    expect((await logInAs(user)).res).toEqual({ twoFactorRequired: true });
  });

  it("refuses a disabled user at the password step and at the code step", async () => {
    const { user, secret } = await userWith2fa();
    const { b, res } = await logInAs(user);
    expect(res).toEqual({ twoFactorRequired: true });
    const sessionsBefore = await api.db.session.count({ where: { userId: user.userId } });
    await api.db.user.update({ where: { id: user.userId }, data: { disabledAt: new Date() } });
    expect(await outcome(b.call((c) => c.auth.verifyTotp({ code: totp(secret) })))).toBe("FORBIDDEN: This account has been disabled");
    expect(await b.call((c) => c.auth.me())).toBeNull();
    expect(await outcome(logInAs(user))).toBe("FORBIDDEN: This account has been disabled");
    // The wrong password says nothing about the account.
    expect(await outcome(new Browser(api).call((c) => c.auth.login({ email: user.email, password: "not-the-password" })))).toBe("UNAUTHORIZED: Wrong email or password");

    // Without 2FA too.
    const plain = await api.makeUser("acme");
    await api.db.user.update({ where: { id: plain.userId }, data: { disabledAt: new Date() } });
    expect(await outcome(logInAs(plain))).toBe("FORBIDDEN: This account has been disabled");
    // No session was made for either (the one from setting up 2FA predates the revocation).
    expect(await api.db.session.count({ where: { userId: user.userId } })).toBe(sessionsBefore);
    expect(await api.db.session.count({ where: { userId: plain.userId } })).toBe(0);
  });

  it("rate-limits code guessing per client and refuses codes sent from another site", async () => {
    const { user, secret } = await userWith2fa();
    const { b } = await logInAs(user);
    for (let i = 0; i < 3; i++) expect(await outcome(b.call((c) => c.auth.verifyTotp({ code: wrongCode(secret) })))).toMatch(/^UNAUTHORIZED: Wrong code/);
    expect(await outcome(b.call((c) => c.auth.verifyTotp({ code: totp(secret) })))).toMatch(/^TOO_MANY_REQUESTS: Too many attempts: wait \d+ seconds/);
    expect(await b.call((c) => c.auth.me())).toBeNull();

    // A page on another site making the browser post the code (cookies ride along): refused.
    const foreign = new Browser(api);
    expect((await foreign.call((c) => c.auth.login({ email: user.email, password: PASSWORD })))).toEqual({ twoFactorRequired: true });
    foreign.origin = "https://evil.example";
    expect(await outcome(foreign.call((c) => c.auth.verifyTotp({ code: totp(secret) })))).toMatch(/^FORBIDDEN: Refused: this request did not come from the portal's own pages/);
    expect(await foreign.call((c) => c.auth.me())).toBeNull();
    // Nor can another site log a browser in (into the attacker's account, or anyone's).
    expect(await outcome(foreign.call((c) => c.auth.login({ email: user.email, password: PASSWORD })))).toMatch(/^FORBIDDEN: Refused: this request did not come from the portal's own pages/);
  });

  it("slows password guessing per account, from any address: after 5 wrong passwords the account waits, others do not", async () => {
    const user = await api.makeUser("acme");
    const bystander = await api.makeUser("acme");
    // Five wrong passwords, each from another address (a distributed guesser).
    for (let i = 0; i < 5; i++) {
      expect(await outcome(new Browser(api).call((c) => c.auth.login({ email: user.email, password: `wrong-password-${i}` })))).toBe("UNAUTHORIZED: Wrong email or password");
    }
    // Now even the right password waits, from a fresh address, before it is checked; no session is made.
    const late = new Browser(api);
    expect(await outcome(late.call((c) => c.auth.login({ email: user.email, password: PASSWORD })))).toBe("TOO_MANY_REQUESTS: Too many failed logins for this account: wait 1 seconds and try again");
    expect(late.has("vdi.session_token")).toBe(false);
    expect(await api.db.session.count({ where: { userId: user.userId } })).toBe(0);
    // Another account from that same address is not held up.
    expect(await late.call((c) => c.auth.login({ email: bystander.email, password: PASSWORD }))).toEqual({ twoFactorRequired: false, userId: bystander.userId });
    // The refusal is in the audit trail, from the address it came from.
    const refused = await api.db.auditEvent.findFirst({ where: { action: "auth.login", actorEmail: user.email, outcome: "error", ip: late.ip } });
    expect(refused?.detail).toMatch(/Too many failed logins/);
    // After the wait the right password works, and resets the count: one more wrong one is just wrong.
    await new Promise((r) => setTimeout(r, 1100));
    expect(await late.call((c) => c.auth.login({ email: user.email, password: PASSWORD }))).toEqual({ twoFactorRequired: false, userId: user.userId });
    expect(await outcome(new Browser(api).call((c) => c.auth.login({ email: user.email, password: "wrong-again" })))).toBe("UNAUTHORIZED: Wrong email or password");
    expect(await new Browser(api).call((c) => c.auth.login({ email: user.email, password: PASSWORD }))).toEqual({ twoFactorRequired: false, userId: user.userId });
  });

  it("counts two-factor challenges as tries until a code is right: someone with the password cannot guess codes at speed", async () => {
    const { user, secret } = await userWith2fa();
    // Five challenges, each from another address, each left with a wrong code.
    for (let i = 0; i < 5; i++) {
      const { b, res } = await logInAs(user);
      expect(res).toEqual({ twoFactorRequired: true });
      expect(await outcome(b.call((c) => c.auth.verifyTotp({ code: wrongCode(secret) })))).toMatch(/^UNAUTHORIZED: Wrong code/);
    }
    expect(await outcome(logInAs(user).then((r) => r.res))).toBe("TOO_MANY_REQUESTS: Too many failed logins for this account: wait 1 seconds and try again");
    // The owner, after the wait, logs in with the right code, and that resets the count.
    await new Promise((r) => setTimeout(r, 1100));
    const { b } = await logInAs(user);
    expect(await b.call((c) => c.auth.verifyTotp({ code: totp(secret) }))).toEqual({ userId: user.userId });
    for (let i = 0; i < 4; i++) expect((await logInAs(user)).res).toEqual({ twoFactorRequired: true });
  });

  it("lets an office behind one address log in at nine, and still limits one address's tries", async () => {
    const office = new Browser(api);
    const staff = await Promise.all(Array.from({ length: 12 }, () => api.makeUser("acme")));
    for (const person of staff) {
      const desk = new Browser(api);
      (desk as { ip: string }).ip = office.ip;  // every thin client of the office: one NAT address
      expect(await desk.call((c) => c.auth.login({ email: person.email, password: PASSWORD }))).toEqual({ twoFactorRequired: false, userId: person.userId });
    }
    // The address's budget (30 a minute) is still a limit: spraying one password over many
    // accounts runs out of it, with a clear answer.
    const sprayer = new Browser(api);
    const answers: string[] = [];
    for (let i = 0; i < 31; i++) answers.push(await outcome(sprayer.call((c) => c.auth.login({ email: `nobody-${i}@acme.test`, password: "Summer2026!!" }))));
    expect(answers.slice(0, 30).every((a) => a === "UNAUTHORIZED: Wrong email or password")).toBe(true);
    expect(answers[30]).toMatch(/^TOO_MANY_REQUESTS: Too many attempts: wait \d+ seconds and try again$/);
  });

  it("sets cookies a third-party site cannot ride or read: HttpOnly, SameSite=Lax, Secure over https", async () => {
    const user = await api.makeUser("acme");
    const { b } = await logInAs(user);
    const session = b.lastSetCookies.find((c) => c.startsWith("vdi.session_token="))!;
    expect(session).toMatch(/;\s*HttpOnly/i);
    expect(session).toMatch(/;\s*SameSite=Lax/i);
    expect(session).not.toMatch(/;\s*Secure/i);
    const https = createAuth({ db: api.db, provider, secret: "x".repeat(32), baseURL: "https://vdi.example" });
    const res = new Headers();
    await logIn({ db: api.db, auth: https }, { email: user.email, password: PASSWORD }, new Headers(), res);
    const secure = res.getSetCookie().find((c) => c.startsWith("__Secure-vdi.session_token="))!;
    expect(secure).toMatch(/;\s*Secure/i);
    expect(secure).toMatch(/;\s*HttpOnly/i);
    expect(secure).toMatch(/;\s*SameSite=Lax/i);
  });
});
