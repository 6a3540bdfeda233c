// A small client of the QEMU guest agent (its unix socket in the VM's folder), for tests that
// check inside a guest: runs a program and returns its exit code and output. Used by the node's
// desktop tests and by the e2e specs.
import { connect } from "node:net";

export interface GuestExecResult { exitcode: number; stdout: string; stderr: string }

/** Runs `path args` in the guest through the agent at `sock` and waits for it (20 s per answer). */
export async function guestExec(sock: string, path: string, args: string[], timeoutMs = 60_000): Promise<GuestExecResult> {
  const s = connect(sock);
  let buf = "";
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  s.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) { lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
    wake?.();
  });
  const nextLine = async (what: string, match: (l: string) => boolean = () => true): Promise<string> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const i = lines.findIndex(match);
      if (i >= 0) return lines.splice(0, i + 1).at(-1)!;
      if (Date.now() > deadline) throw new Error(`guest agent: no ${what} within 20 s`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    }
  };
  const ask = async (cmd: object): Promise<Record<string, unknown>> => {
    s.write(`${JSON.stringify(cmd)}\n`);
    const r = JSON.parse(await nextLine("answer")) as { return?: Record<string, unknown>; error?: { desc: string } };
    if (r.error) throw new Error(`guest agent: ${r.error.desc}`);
    return r.return ?? {};
  };
  try {
    await new Promise((resolve, reject) => s.once("connect", resolve).once("error", reject));
    const id = Math.floor(Math.random() * 1e9);
    // guest-sync first: whatever an earlier client left unread is skipped up to our id.
    s.write(Buffer.from([0xff]));  // resets the agent's parser
    s.write(`${JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } })}\n`);
    await nextLine("guest-sync", (l) => l.includes(String(id)));
    // The agent runs programs with an empty environment; X tools such as xsel want a HOME.
    const env = ["HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"];
    const { pid } = await ask({ execute: "guest-exec", arguments: { path, arg: args, env, "capture-output": true } }) as { pid: number };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await ask({ execute: "guest-exec-status", arguments: { pid } }) as { exited: boolean; exitcode?: number; "out-data"?: string; "err-data"?: string };
      if (st.exited) {
        const text = (b64?: string) => (b64 ? Buffer.from(b64, "base64").toString("utf8") : "");
        return { exitcode: st.exitcode ?? -1, stdout: text(st["out-data"]), stderr: text(st["err-data"]) };
      }
      if (Date.now() > deadline) throw new Error(`guest agent: ${path} still running after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    s.destroy();
  }
}
