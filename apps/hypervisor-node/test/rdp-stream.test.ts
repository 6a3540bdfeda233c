// The gateway's RDP row on its own (unit test of rdp-stream.ts): a stand-in bridge (a shell
// script, so each way a bridge ends can be had at will) shows what the row tells the user for
// each: a login that failed, a session that ended, a crash, the login timeout, and a console
// the gateway closed itself (never called a crash). The real bridge is tested against real RDP
// servers in native/test/rdp-bridge.test.ts and agent-desktop.test.ts.
import { afterAll, describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rdpStream } from "../src/rdp/rdp-stream.ts";

const dir = mkdtempSync(join(tmpdir(), "vdi-rdp-stream-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in bridge: reads the password, then runs `body` (sh) with $SOCK the --listen path. */
function fakeBridge(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --listen ] && SOCK=$2; shift; done\nread -r PW\necho "$PW" > ${dir}/${name}.pw\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}
const endpoint = { host: "127.0.0.1", port: 3389, user: "user", password: "per-vm-secret", dir, runAs: null };
const logs: string[] = [];
const log = (l: string) => logs.push(l);

describe("the gateway's RDP row", () => {
  it("says why when the login failed, and hands the password on stdin only", async () => {
    const bridge = fakeBridge("refused", `echo "rdp-bridge: 127.0.0.1:3389 refused the credentials of user (NLA)" >&2; exit 3`);
    const row = rdpStream({ bridge, endpointOf: () => endpoint });
    await expect(row.open("vm1", log)).rejects.toThrow("cannot log into the desktop: 127.0.0.1:3389 refused the credentials of user (NLA)");
    expect(readFileSync(join(dir, "refused.pw"), "utf8")).toBe("per-vm-secret\n");
  });

  it("gives the socket once the bridge is connected; its end says what ended: the session, or a crash", async () => {
    const ended = fakeBridge("ended", `: > "$SOCK"; echo "rdp-bridge: connected to 127.0.0.1:3389 as user, 1280x800; serving RFB on $SOCK" >&2; sleep 0.3; echo "rdp-bridge: the RDP session ended: logged off" >&2; exit 4`);
    const t = await rdpStream({ bridge: ended, endpointOf: () => endpoint }).open("vm1", log);
    expect(t.path.startsWith(join(dir, "rdp-"))).toBe(true);
    expect(await t.ended).toBe("the desktop session ended: the RDP session ended: logged off");

    const crash = fakeBridge("crash", `: > "$SOCK"; echo "rdp-bridge: connected to x" >&2; kill -9 $$`);
    const c = await rdpStream({ bridge: crash, endpointOf: () => endpoint }).open("vm1", log);
    expect(await c.ended).toBe("the RDP bridge crashed (SIGKILL); the VM is unaffected: reconnect");
  });

  it("a console the gateway closes, and the login timeout, are never called a crash", async () => {
    const hang = fakeBridge("hang", `: > "$SOCK"; echo "rdp-bridge: connected to x" >&2; exec sleep 30`);
    const t = await rdpStream({ bridge: hang, endpointOf: () => endpoint }).open("vm1", log);
    t.release();
    expect(await t.ended).toBe("the RDP session was closed");

    const slow = fakeBridge("slow", "exec sleep 30");
    logs.length = 0;
    await expect(rdpStream({ bridge: slow, endpointOf: () => endpoint, loginTimeoutMs: 300 }).open("vm1", log)).rejects.toThrow("the desktop did not answer within 0 s");
    await new Promise((r) => setTimeout(r, 300));
    expect(logs.filter((l) => /crashed/.test(l))).toEqual([]);
  });

  it("is unavailable, before any token is spent, without a bridge or without a desktop", () => {
    expect(rdpStream({ bridge: null, missing: "freerdp2-dev was not installed", endpointOf: () => endpoint }).unavailable!("vm1")).toBe("freerdp2-dev was not installed");
    expect(rdpStream({ bridge: "/bin/true", endpointOf: () => "this VM has no desktop" }).unavailable!("vm1")).toBe("this VM has no desktop");
    expect(rdpStream({ bridge: "/bin/true", endpointOf: () => endpoint }).unavailable!("vm1")).toBeNull();
  });
});
