"use client";
// A seat's kiosk page (docs/seating.md), for a browser in kiosk mode at a desk: a full-screen
// login, then the user's desktop, no portal chrome. The seat names itself with the secret of its
// enrollment link: on the first visit the page trades it for the seat's httpOnly cookie (no script
// reads it) and drops it from the address bar. After the login the portal brokers the desktop (the seat's pool, or the
// user's own) and opens a seat session; the page polls it (the heartbeat, and whether the user
// typed: the idle timer) and shows the progress while the desktop is started or restored. When
// the session ends (Log out, the idle timer, the user continuing at another seat) the seat
// returns to its login screen and says why.
import { use, useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import { VmConsole } from "@/components/vm-console";

const storageKey = (seatId: string) => `vdi.seat.${seatId}`;
/** How often the kiosk beats (the portal counts a silent kiosk as disconnected after 30 s). */
const POLL_MS = 2_000;
/** How often it asks while the desktop is being started or restored: the desktop shows as soon as it runs. */
const WAITING_POLL_MS = 300;

type Session = { sessionId: string; t0: number };

export default function SeatPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const qc = useQueryClient();
  // The seat's credential is its httpOnly cookie: the enrollment link (or a secret an older
  // version of this page kept in localStorage) is traded for it once.
  const enroll = useMutation(trpc.seat.enroll.mutationOptions());
  const [enrolled, setEnrolled] = useState<boolean | string>(false);
  useEffect(() => {
    const url = new URL(window.location.href);
    const fromLink = url.searchParams.get("enroll");
    const legacy = window.localStorage.getItem(storageKey(id));
    const given = fromLink ?? legacy;
    if (fromLink) {
      url.searchParams.delete("enroll");
      window.history.replaceState(null, "", url.pathname);
    }
    if (!given) { setEnrolled(true); return; }
    enroll.mutateAsync({ seatId: id, secret: given })
      .then(() => { window.localStorage.removeItem(storageKey(id)); setEnrolled(true); })
      .catch((e: unknown) => setEnrolled(errorMessage(e) ?? "This seat link does not work"));
  }, [id]);
  const seat = useQuery(trpc.seat.hello.queryOptions({ seatId: id }, { enabled: enrolled === true, retry: false }));
  // Why the last session ended (or why the login found no desktop), shown on the login screen.
  const [endedWhy, setEndedWhy] = useState<{ text: string; refused: boolean } | null>(null);
  const me = useQuery(trpc.auth.me.queryOptions(undefined, { enabled: seat.isSuccess }));
  const logoutAuth = useMutation(trpc.auth.logout.mutationOptions({ onSettled: () => void qc.resetQueries() }));
  const signedIn = !!me.data?.userId;
  // The login's own time, measured here: the breakdown's first phase.
  const authMs = useRef(0);

  const ended = useCallback((why: string, refused = false) => {
    setEndedWhy({ text: why, refused });
    logoutAuth.mutate();
  }, [logoutAuth]);

  if (typeof enrolled === "string") return <SeatMessage text={enrolled} />;
  if (!enrolled) return <main className="seat" />;
  if (seat.error) return <SeatMessage text={errorMessage(seat.error) ?? "This seat cannot be used now"} />;
  if (!seat.data) return <SeatMessage text="…" />;
  const where = `${seat.data.name}${seat.data.location ? ` · ${seat.data.location}` : ""}`;
  if (!signedIn) {
    return <SeatLogin where={where} tenant={seat.data.tenant} endedWhy={endedWhy} onLoggedIn={(ms) => { authMs.current = ms; setEndedWhy(null); }} />;
  }
  return <SeatDesktop key={me.data?.userId} seatId={id} where={where} email={me.data?.email ?? ""} authMs={authMs.current} onEnded={ended} />;
}

function SeatDesktop({ seatId, where, email, authMs, onEnded }: { seatId: string; where: string; email: string; authMs: number; onEnded: (why: string, refused?: boolean) => void }) {
  const trpc = useTRPC();
  const [session, setSession] = useState<Session | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const connect = useMutation(trpc.seat.connect.mutationOptions());
  const poll = useMutation(trpc.seat.session.mutationOptions());
  const logout = useMutation(trpc.seat.logout.mutationOptions());
  const openConsole = useMutation(trpc.seat.console.mutationOptions());
  const firstFrame = useMutation(trpc.seat.firstFrame.mutationOptions());
  const answerShadow = useMutation(trpc.seat.shadowAnswer.mutationOptions());
  const [state, setState] = useState<Awaited<ReturnType<typeof poll.mutateAsync>> | null>(null);
  const typed = useRef(false);
  const reported = useRef(false);
  // Once the session has ended (or the user logs out here), later news of its end says nothing more.
  const leaving = useRef(false);
  const finish = useCallback((why: string) => { if (leaving.current) return; leaving.current = true; onEnded(why); }, [onEnded]);

  // Broker once per login.
  useEffect(() => {
    const t0 = performance.now() - authMs;
    connect.mutateAsync({ seatId, authMs: Math.min(600_000, Math.max(0, Math.round(authMs))) })
      .then((s) => setSession({ sessionId: s.sessionId, t0 }))
      // No desktop for this login (a full pool, a seat of another organization): back to the login, saying why.
      .catch((e: unknown) => { leaving.current = true; onEnded(errorMessage(e) ?? "Your desktop could not be found", true); });
  }, []);

  // Any key or pointer input counts against the idle timer.
  useEffect(() => {
    const mark = () => { typed.current = true; };
    for (const ev of ["keydown", "pointerdown", "pointermove", "wheel"]) window.addEventListener(ev, mark, { capture: true, passive: true });
    return () => { for (const ev of ["keydown", "pointerdown", "pointermove", "wheel"]) window.removeEventListener(ev, mark, { capture: true }); };
  }, []);

  // The heartbeat: the session's state and the desktop's.
  useEffect(() => {
    if (!session) return;
    let stop = false;
    const beat = async () => {
      const input = typed.current;
      typed.current = false;
      try {
        const s = await poll.mutateAsync({ seatId, sessionId: session.sessionId, input });
        if (stop || leaving.current) return true;
        if (s.ended) { finish(s.ended); return true; }
        setState(s);
        return s.vm?.state === "running" || s.vm?.state === "paused" || !!(s.progress && "error" in s.progress);
      } catch (e) {
        if (!stop) setFailed(errorMessage(e) ?? "The seat lost its session");
        return true;
      }
    };
    // Quick while the desktop comes up, then at the heartbeat's pace.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loop = async () => {
      const up = await beat();
      if (!stop) timer = setTimeout(() => void loop(), up ? POLL_MS : WAITING_POLL_MS);
    };
    void loop();
    return () => { stop = true; clearTimeout(timer); };
  }, [session]);

  const openUrl = useCallback(async (protocol: "vnc" | "rdp") => {
    if (!session) throw new Error("no session");
    return (await openConsole.mutateAsync({ seatId, sessionId: session.sessionId, protocol })).url;
  }, [session, seatId]);
  const onFirstFrame = useCallback(() => {
    if (!session || reported.current) return;
    reported.current = true;
    firstFrame.mutate({ seatId, sessionId: session.sessionId, ms: Math.min(600_000, Math.round(performance.now() - session.t0)) });
  }, [session]);
  // The gateway closed the console because the session ended (4435): the seat goes back to its login.
  const onClosed = useCallback((code: number, reason: string) => { if (code === 4435) finish(reason); }, [finish]);

  // Bringing the desktop up failed (a restore that cannot be read, a start refused): the seat
  // logs out and says why; the portal keeps the desktop as it was (a saved state stays saved).
  const failedWith = state?.progress && "error" in state.progress ? state.progress.error : null;
  useEffect(() => {
    if (!failedWith || !session || leaving.current) return;
    leaving.current = true;
    void logout.mutateAsync({ seatId, sessionId: session.sessionId }).catch(() => undefined)
      .then(() => onEnded(`Your desktop could not be started: ${failedWith}. It is kept as it was: log in again to retry, or call your helpdesk.`, true));
  }, [failedWith, session]);

  const vm = state?.vm;
  const up = vm && (vm.state === "running" || vm.state === "paused");
  const doLogout = async () => {
    if (leaving.current) return;
    leaving.current = true;
    if (session) await logout.mutateAsync({ seatId, sessionId: session.sessionId }).catch(() => undefined);
    onEnded("You logged out.");
  };
  return (
    <main className="seat seat-desktop" data-vm={vm?.id ?? ""}>
      <div className="seat-bar">
        <span>{where}</span>
        <span className="who">{email}</span>
        <button className="secondary" onClick={() => void doLogout()}>Log out</button>
      </div>
      {state && "shadow" in state && state.shadow && session && <ShadowBanner shadow={state.shadow} answer={(shadowId, answer) => answerShadow.mutate({ seatId, sessionId: session.sessionId, shadowId, answer })} />}
      {failed ? <p className="seat-note error" role="alert">{failed}</p>
        : up ? <VmConsole key={vm.id} vmId={vm.id} running protocols={vm.consoles} openUrl={openUrl} onFirstFrame={onFirstFrame} onClosed={onClosed} />
        : <SeatProgress state={state} />}
    </main>
  );
}

type ShadowAnswer = "allow" | "refuse" | "take-back" | "stop";

/** While a helpdesk admin watches: who, with control or not; the user gives or takes back control, or ends it. */
function ShadowBanner({ shadow, answer }: { shadow: { shadowId: string; by: string; control: boolean; controlAsked: boolean }; answer: (shadowId: string, a: ShadowAnswer) => void }) {
  return (
    <div className="seat-shadow" role="alert" data-testid="shadow-banner">
      <strong>{shadow.control ? `${shadow.by} (helpdesk) is controlling your desktop.` : `${shadow.by} (helpdesk) is watching your desktop.`}</strong>
      {!shadow.control && shadow.controlAsked && (
        <>
          <span>They ask to take control.</span>
          <button onClick={() => answer(shadow.shadowId, "allow")}>Allow control</button>
          <button className="secondary" onClick={() => answer(shadow.shadowId, "refuse")}>Refuse</button>
        </>
      )}
      {shadow.control && <button className="secondary" onClick={() => answer(shadow.shadowId, "take-back")}>Take back control</button>}
      <button className="danger" onClick={() => answer(shadow.shadowId, "stop")}>End helpdesk session</button>
    </div>
  );
}

const STARTING: Record<string, string> = { start: "Starting your desktop", create: "Preparing your desktop", resume: "Resuming your desktop" };

function SeatProgress({ state }: { state: { vm: { state: string } | null; progress: { kind: string; progress: number; error?: string | null } | null } | null }) {
  if (!state?.vm) return <p className="seat-note" role="status">Finding your desktop…</p>;
  const p = state.progress;
  if (p?.error) return <p className="seat-note error" role="alert">Your desktop could not be started: {p.error}</p>;
  const restoring = state.vm.state === "saved" || state.vm.state === "saving";
  const what = restoring ? "Restoring your desktop as you left it" : (p && STARTING[p.kind]) ?? "Starting your desktop";
  return (
    <div className="seat-note" role="status" data-testid="seat-progress">
      <p>{what}…</p>
      <progress max={100} value={p?.progress ?? 0} aria-label={what} />
    </div>
  );
}

function SeatMessage({ text }: { text: string }) {
  return <main className="seat"><div className="card seat-card"><h1>Seat</h1><p className="error" role="alert">{text}</p></div></main>;
}

function SeatLogin({ where, tenant, endedWhy, onLoggedIn }: { where: string; tenant: string; endedWhy: { text: string; refused: boolean } | null; onLoggedIn: (ms: number) => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  // Accounts with two-factor authentication give a code from their app (or a backup code) next.
  const [step, setStep] = useState<"password" | "totp" | "backup">("password");
  const [code, setCode] = useState("");
  const started = useRef(0);
  const done = () => {
    onLoggedIn(performance.now() - started.current);
    void qc.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
  };
  const login = useMutation(trpc.auth.login.mutationOptions({ onSuccess: (r) => (r.twoFactorRequired ? setStep("totp") : done()) }));
  // A seat is shared: it is never a trusted device, so every login there asks for the code.
  const totp = useMutation(trpc.auth.verifyTotp.mutationOptions({ onSuccess: done }));
  const backup = useMutation(trpc.auth.verifyBackupCode.mutationOptions({ onSuccess: done }));
  function submit(e: FormEvent) {
    e.preventDefault();
    if (step === "password") {
      started.current = performance.now();
      login.mutate({ email, password });
    } else if (step === "totp") totp.mutate({ code, trustDevice: false });
    else backup.mutate({ code });
  }
  const error = step === "password" ? login.error : step === "totp" ? totp.error : backup.error;
  const pending = login.isPending || totp.isPending || backup.isPending;
  return (
    <main className="seat">
      <form onSubmit={submit} className="card seat-card" aria-label="Log in at this seat">
        <h1>{tenant}</h1>
        <p className="muted" data-testid="seat-where">{where}</p>
        {endedWhy && !endedWhy.refused && <p className="muted" role="status" data-testid="seat-ended">Your session ended: {endedWhy.text}</p>}
        {endedWhy?.refused && <p className="error" role="alert" data-testid="seat-refused">{endedWhy.text}</p>}
        {step === "password" ? (
          <>
            <label>Email <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required /></label>
            <label>Password <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
          </>
        ) : step === "totp" ? (
          <label>Authenticator code
            <input name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9 ]{6,7}" maxLength={7} value={code} onChange={(e) => setCode(e.target.value)} required autoFocus />
          </label>
        ) : (
          <label>Backup code
            <input name="backup-code" autoComplete="off" spellCheck={false} maxLength={11} placeholder="abcde-12345" value={code} onChange={(e) => setCode(e.target.value)} required autoFocus />
          </label>
        )}
        {error && <p className="error" role="alert">{errorMessage(error)}</p>}
        <button type="submit" disabled={pending}>{step === "password" ? "Log in" : "Verify"}</button>
        {step !== "password" && (
          <p className="muted">
            <a href="#" onClick={(e) => { e.preventDefault(); setCode(""); setStep(step === "totp" ? "backup" : "totp"); }}>{step === "totp" ? "Use a backup code" : "Use the authenticator app"}</a>
            {" · "}
            <a href="#" onClick={(e) => { e.preventDefault(); setCode(""); setStep("password"); }}>Start over</a>
          </p>
        )}
      </form>
    </main>
  );
}
