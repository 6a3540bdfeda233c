"use client";
// Two-factor authentication for one's own account: turn on (password, then the secret and the
// backup codes, shown once, then a first code to confirm), see how many backup codes are left,
// turn off (password).
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";

interface Setup { totpURI: string; secret: string; backupCodes: string[] }

/** "JBSWY3DPEHPK3PXP" → "JBSW Y3DP EHPK 3PXP": easier to type into an app by hand. */
function inGroupsOf4(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

export default function SecurityPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const status = useQuery(trpc.auth.twoFactorStatus.queryOptions());
  const refresh = () => void qc.invalidateQueries({ queryKey: trpc.auth.twoFactorStatus.queryKey() });
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [setup, setSetup] = useState<Setup | null>(null);
  const enable = useMutation(trpc.auth.enableTwoFactor.mutationOptions({
    onSuccess: (s) => { setSetup(s); setPassword(""); refresh(); },
  }));
  const confirm = useMutation(trpc.auth.confirmTwoFactor.mutationOptions({
    onSuccess: () => { setSetup(null); setCode(""); refresh(); },
  }));
  const disable = useMutation(trpc.auth.disableTwoFactor.mutationOptions({
    onSuccess: () => { setPassword(""); refresh(); },
  }));

  function submitEnable(e: FormEvent) {
    e.preventDefault();
    enable.mutate({ password });
  }
  function submitConfirm(e: FormEvent) {
    e.preventDefault();
    confirm.mutate({ code });
  }
  function submitDisable(e: FormEvent) {
    e.preventDefault();
    if (window.confirm("Turn off two-factor authentication? Your password alone will then log you in.")) disable.mutate({ password });
  }

  const s = status.data;
  return (
    <div className="admin">
      <h1>Security</h1>
      {status.error && <p className="error" role="alert">{errorMessage(status.error)}</p>}
      {s && (
        <section className="card settings" aria-label="Two-factor authentication">
          <h2>Two-factor authentication</h2>
          {s.enabled ? (
            <>
              <p>
                <span className="badge state-running">On</span> Logging in asks for a code from your authenticator app
                {s.backupCodesLeft !== null && <> · {s.backupCodesLeft} backup code{s.backupCodesLeft === 1 ? "" : "s"} left</>}.
              </p>
              <form onSubmit={submitDisable} className="inline-form" aria-label="Turn off two-factor authentication">
                <label>
                  Password
                  <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
                </label>
                <button type="submit" className="danger" disabled={disable.isPending}>Turn off</button>
              </form>
              {disable.error && <p className="error" role="alert">{errorMessage(disable.error)}</p>}
            </>
          ) : setup ? (
            <>
              <div className="token-once" aria-label="New two-factor secret">
                <p>
                  Add this account to your authenticator app (Aegis, Google Authenticator, 1Password, …): open the
                  link below on this device, or type the key by hand (time-based, 6 digits, 30 seconds).
                </p>
                <label>
                  Setup link
                  <code className="secret" data-testid="totp-uri">{setup.totpURI}</code>
                </label>
                <label>
                  Key
                  <code className="secret" data-testid="totp-secret">{inGroupsOf4(setup.secret)}</code>
                </label>
                <p><strong>Backup codes</strong>: each logs you in once if you lose the app. Save them now; they are not shown again.</p>
                <ol data-testid="backup-codes">
                  {setup.backupCodes.map((c) => <li key={c}><code>{c}</code></li>)}
                </ol>
              </div>
              <form onSubmit={submitConfirm} className="inline-form" aria-label="Confirm two-factor authentication">
                <label>
                  Code from the app
                  <input inputMode="numeric" autoComplete="one-time-code" maxLength={7} value={code} onChange={(e) => setCode(e.target.value)} required />
                </label>
                <button type="submit" disabled={confirm.isPending}>Confirm and turn on</button>
              </form>
              {confirm.error && <p className="error" role="alert">{errorMessage(confirm.error)}</p>}
            </>
          ) : (
            <>
              <p>
                <span className="badge">Off</span> Add a second step to logging in: a code from an authenticator app on your phone.
                {s.pendingSetup && <> A setup was started but not confirmed; start again.</>}
              </p>
              <form onSubmit={submitEnable} className="inline-form" aria-label="Turn on two-factor authentication">
                <label>
                  Password
                  <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
                </label>
                <button type="submit" disabled={enable.isPending}>Turn on</button>
              </form>
              {enable.error && <p className="error" role="alert">{errorMessage(enable.error)}</p>}
            </>
          )}
        </section>
      )}
    </div>
  );
}
