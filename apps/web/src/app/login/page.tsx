"use client";
// Log in: email + password, then (for accounts with two-factor authentication) a code from the
// authenticator app or a backup code; "Sign in with …" when the portal has an OIDC provider.
import { useEffect, useState, type FormEvent } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTRPC, errorMessage, fieldErrors } from "@/lib/trpc";

type Step = "password" | "totp" | "backup";

/** What Better Auth's OIDC callback puts in ?error=, in words. */
const SSO_ERRORS: Record<string, string> = {
  signup_disabled: "No account here uses that email. Ask an administrator for an invitation.",
  ACCOUNT_DISABLED: "This account has been disabled",
  account_not_linked: "That sign-in could not be matched to your account. Log in with your password.",
  unable_to_get_user_info: "The sign-in provider's answer could not be verified. Try again.",
};

export default function LoginPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const [step, setStep] = useState<Step>("password");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [trustDevice, setTrustDevice] = useState(false);
  const [ssoError, setSsoError] = useState<string | null>(null);
  const providers = useQuery(trpc.auth.providers.queryOptions());
  const done = () => router.replace("/vms");
  const login = useMutation(trpc.auth.login.mutationOptions({
    onSuccess: (res) => (res.twoFactorRequired ? setStep("totp") : done()),
  }));
  const totp = useMutation(trpc.auth.verifyTotp.mutationOptions({ onSuccess: done }));
  const backup = useMutation(trpc.auth.verifyBackupCode.mutationOptions({ onSuccess: done }));
  const fields = fieldErrors(login.error);

  useEffect(() => {
    // Read once on arrival (not useSearchParams: the page stays statically rendered).
    const error = new URLSearchParams(window.location.search).get("error");
    if (error) setSsoError(SSO_ERRORS[error] ?? `Single sign-on failed (${error})`);
  }, []);

  function submitPassword(e: FormEvent) {
    e.preventDefault();
    login.mutate({ email, password });
  }
  function submitCode(e: FormEvent) {
    e.preventDefault();
    if (step === "totp") totp.mutate({ code, trustDevice });
    else backup.mutate({ code });
  }
  function switchTo(next: Step) {
    setCode("");
    totp.reset();
    backup.reset();
    setStep(next);
  }
  async function signInWithOidc() {
    setSsoError(null);
    const res = await fetch("/api/auth/sign-in/social", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ provider: "oidc", callbackURL: "/vms", errorCallbackURL: "/login" }),
    });
    const body = (await res.json().catch(() => null)) as { url?: string; message?: string } | null;
    if (res.ok && body?.url) window.location.assign(body.url);
    else setSsoError(body?.message ?? "Single sign-on is not available right now");
  }

  if (step !== "password") {
    const pending = totp.isPending || backup.isPending;
    const error = step === "totp" ? totp.error : backup.error;
    const codeError = fieldErrors(error).code;
    return (
      <main className="login">
        <form onSubmit={submitCode} className="card" aria-label="Two-factor authentication">
          <h1>Two-factor authentication</h1>
          {step === "totp" ? (
            <>
              <label>
                Code from your authenticator app
                <input name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9 ]{6,7}" maxLength={7}
                  value={code} onChange={(e) => setCode(e.target.value)} required autoFocus />
              </label>
              <label className="inline">
                <input type="checkbox" checked={trustDevice} onChange={(e) => setTrustDevice(e.target.checked)} />
                Don&apos;t ask again on this device for 30 days
              </label>
            </>
          ) : (
            <label>
              Backup code
              <input name="backup-code" autoComplete="off" spellCheck={false} maxLength={11} placeholder="abcde-12345"
                value={code} onChange={(e) => setCode(e.target.value)} required autoFocus />
            </label>
          )}
          {codeError && <span className="field-error">{codeError}</span>}
          {error && !codeError && <p role="alert" className="error">{errorMessage(error)}</p>}
          <button type="submit" disabled={pending}>{pending ? "Checking…" : "Verify"}</button>
          {step === "totp"
            ? <a href="#" onClick={(e) => { e.preventDefault(); switchTo("backup"); }}>Use a backup code</a>
            : <a href="#" onClick={(e) => { e.preventDefault(); switchTo("totp"); }}>Use the authenticator app</a>}
          <button type="button" className="secondary" onClick={() => { switchTo("password"); login.reset(); setPassword(""); }}>Start over</button>
        </form>
      </main>
    );
  }

  return (
    <main className="login">
      <form onSubmit={submitPassword} className="card" aria-label="Log in">
        <h1>Log in</h1>
        <label>
          Email
          <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required />
          {fields.email && <span className="field-error">{fields.email}</span>}
        </label>
        <label>
          Password
          <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        {login.error && !fields.email && <p role="alert" className="error">{errorMessage(login.error)}</p>}
        <button type="submit" disabled={login.isPending}>{login.isPending ? "Logging in…" : "Log in"}</button>
        {providers.data?.oidc && (
          <button type="button" className="secondary" onClick={() => void signInWithOidc()}>
            Sign in with {providers.data.oidc.name}
          </button>
        )}
        {ssoError && <p role="alert" className="error">{ssoError}</p>}
      </form>
    </main>
  );
}
