"use client";
// A seat's kiosk page (docs/seating.md), for a browser in kiosk mode at a desk: a full-screen
// login, then the user's desktop, no portal chrome. The seat names itself with the secret of its
// enrollment link: on the first visit the page keeps it in this browser's storage and drops it
// from the address bar. Log out returns the seat to its login screen.
import { use, useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC, errorMessage } from "@/lib/trpc";
import { VmConsole } from "@/components/vm-console";

const storageKey = (seatId: string) => `vdi.seat.${seatId}`;

export default function SeatPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [secret, setSecret] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    const url = new URL(window.location.href);
    const enroll = url.searchParams.get("enroll");
    if (enroll) {
      window.localStorage.setItem(storageKey(id), enroll);
      url.searchParams.delete("enroll");
      window.history.replaceState(null, "", url.pathname);
    }
    setSecret(window.localStorage.getItem(storageKey(id)));
  }, [id]);
  const seat = useQuery(trpc.seat.hello.queryOptions({ seatId: id, secret: secret ?? "" }, { enabled: !!secret, retry: false }));
  const me = useQuery(trpc.auth.me.queryOptions(undefined, { enabled: seat.isSuccess }));
  const signedIn = !!me.data?.userId;
  const vms = useQuery(trpc.vm.list.queryOptions(undefined, { enabled: signedIn, refetchInterval: 5_000 }));
  const logout = useMutation(trpc.auth.logout.mutationOptions({ onSettled: () => void qc.resetQueries() }));

  if (secret === undefined) return <main className="seat" />;
  if (secret === null) return <SeatMessage text="This browser is not a seat yet: open the seat link your administrator gave you." />;
  if (seat.error) return <SeatMessage text={errorMessage(seat.error) ?? "This seat cannot be used now"} />;
  if (!seat.data) return <SeatMessage text="…" />;
  const where = `${seat.data.name}${seat.data.location ? ` · ${seat.data.location}` : ""}`;
  if (!signedIn) return <SeatLogin where={where} tenant={seat.data.tenant} />;

  // The user's desktop: a running VM whose template is a desktop first, else any running one.
  const running = (vms.data ?? []).filter((v) => v.state === "running" || v.state === "paused");
  const vm = running.find((v) => v.template.consoles.includes("rdp")) ?? running[0];
  return (
    <main className="seat seat-desktop">
      <div className="seat-bar">
        <span>{where}</span>
        <span className="who">{me.data?.email}</span>
        <button className="secondary" onClick={() => logout.mutate()}>Log out</button>
      </div>
      {vm ? <VmConsole key={vm.id} vmId={vm.id} running protocols={vm.template.consoles} />
        : <p className="seat-note" role="status">{vms.isLoading ? "Looking for your desktop…" : "You have no running desktop. Start one in the portal, or ask your administrator."}</p>}
    </main>
  );
}

function SeatMessage({ text }: { text: string }) {
  return <main className="seat"><div className="card seat-card"><h1>Seat</h1><p className="error" role="alert">{text}</p></div></main>;
}

function SeatLogin({ where, tenant }: { where: string; tenant: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const login = useMutation(trpc.auth.login.mutationOptions({ onSuccess: () => void qc.invalidateQueries({ queryKey: trpc.auth.me.queryKey() }) }));
  function submit(e: FormEvent) {
    e.preventDefault();
    login.mutate({ email, password });
  }
  const twoFactor = login.data?.twoFactorRequired;
  return (
    <main className="seat">
      <form onSubmit={submit} className="card seat-card" aria-label="Log in at this seat">
        <h1>{tenant}</h1>
        <p className="muted" data-testid="seat-where">{where}</p>
        <label>Email <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required /></label>
        <label>Password <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
        {login.error && <p className="error" role="alert">{errorMessage(login.error)}</p>}
        {twoFactor && <p className="error" role="alert">This account uses two-factor authentication, which seats do not offer yet: log in at the portal.</p>}
        <button type="submit" disabled={login.isPending}>Log in</button>
      </form>
    </main>
  );
}
