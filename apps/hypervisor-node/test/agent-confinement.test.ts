// Engines are confined (issue 11): each VM's QEMU runs as a user of its own under QEMU's seccomp
// sandbox, that user reaches neither another VM's disk nor its sockets, each VM's engine sits in a
// cgroup of its own with CPU and memory limits, and an engine killed from outside is heard at once
// through its pidfd and reaped (no zombie). Two real QEMU VMs under a real agent and portal.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { nativeAddonReason } from "../src/native.ts";
import { detectCgroups, engineMemoryLimit } from "../src/lib/cgroups.ts";
import { IMAGES, agentFixture, qemuSkipReason, startAgent, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "debian-shell", "template.json");
const skipReason = qemuSkipReason(TEMPLATE) ?? (process.getuid?.() !== 0 ? "engines get users of their own only from an agent that runs as root" : null);
if (skipReason) console.warn(`[skip] engine confinement tests: ${skipReason}`);
const cgroups = detectCgroups();
if (!cgroups.version) console.warn(`[skip] engine cgroup limits: this machine offers none the agent can use (${cgroups.reason})`);
const addonMissing = nativeAddonReason();
if (addonMissing) console.warn(`[skip] engine pidfd supervision: ${addonMissing}`);

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

describe.skipIf(skipReason !== null)("confined engines", () => {
  const f = agentFixture(TEMPLATE, "vdi-confine-");
  let c: ReturnType<typeof f.api.caller>;
  const vms: { id: string; pid: number; dir: string }[] = [];

  beforeAll(async () => {
    c = f.api.caller(f.alice);
    f.agent = startAgent(f.server.url, f.dataDir);
    await until("node up", async () => (await c.node.list()).find((n) => n.up && n.engines.qemu?.available));
    for (const name of ["conf-a", "conf-b"]) {
      const { vmId } = await c.vm.create({ templateId: f.templateId, name });
      await until(`${name} running`, async () => (await c.vm.get({ vmId })).state === "running");
      const dir = join(f.dataDir, "vms", vmId);
      vms.push({ id: vmId, dir, pid: Number(readFileSync(join(dir, "engine.pid"), "utf8")) });
    }
  }, 180_000);
  afterAll(() => undefined);

  it("runs each VM's QEMU as a user of its own, not root, under a seccomp filter", () => {
    const [a, b] = vms.map((v) => status(v.pid));
    for (const s of [a!, b!]) {
      const uid = Number(s.Uid!.split(/\s+/)[0]);
      expect(uid).toBeGreaterThanOrEqual(640_000);
      expect(s.Seccomp).toBe("2");       // filter mode
      expect(s.NoNewPrivs).toBe("1");
    }
    expect(a!.Uid).not.toBe(b!.Uid);
  });

  it("leaves one VM's engine user unable to read another VM's disk or reach its sockets, while its own folder is open to it", () => {
    const [a, b] = vms;
    const uidB = Number(status(b!.pid).Uid!.split(/\s+/)[0]);
    const probe = `
      const fs = require("node:fs"), net = require("node:net");
      const code = (f) => { try { f(); return "ok"; } catch (e) { return e.code; } };
      const sock = (p) => new Promise((r) => { const s = net.connect(p); s.on("connect", () => { s.destroy(); r("ok"); }); s.on("error", (e) => r(e.code)); });
      (async () => console.log(JSON.stringify({
        disk: code(() => fs.closeSync(fs.openSync(${JSON.stringify(join(a!.dir, "disk.qcow2"))}, "r"))),
        list: code(() => fs.readdirSync(${JSON.stringify(a!.dir)})),
        vnc: await sock(${JSON.stringify(join(a!.dir, "vnc.sock"))}),
        qmp: await sock(${JSON.stringify(join(a!.dir, "control.sock"))}),
        own: code(() => fs.readdirSync(${JSON.stringify(b!.dir)})),
      })))();`;
    const r = spawnSync(process.execPath, ["-e", probe], { uid: uidB, gid: uidB, encoding: "utf8", timeout: 20_000 });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ disk: "EACCES", list: "EACCES", vnc: "EACCES", qmp: "EACCES", own: "ok" });
    // The same probe as the agent's user reaches everything: the refusals above are the engine user's.
    expect(existsSync(join(a!.dir, "disk.qcow2"))).toBe(true);
  });

  it.skipIf(!cgroups.version)("holds each VM's engine in a cgroup of its own, with CPU and memory limits", async () => {
    const vm = await c.vm.get({ vmId: vms[0]!.id });
    const tcg = readFileSync(`/proc/${vms[0]!.pid}/cmdline`, "utf8").includes("accel=tcg");
    const procs = cgroups.procsFiles(vms[0]!.id);
    expect(procs.length).toBeGreaterThan(0);
    for (const p of procs) expect(readFileSync(p, "utf8").split("\n")).toContain(String(vms[0]!.pid));
    const dir = (ctl: string) => join("/sys/fs/cgroup", ...(cgroups.version === "v1" ? [ctl] : []), "vdi-engines", vms[0]!.id);
    const limit = engineMemoryLimit(vm.memoryMiB, { tcg });
    if (cgroups.version === "v1") {
      expect(Number(readFileSync(join(dir("memory"), "memory.limit_in_bytes"), "utf8"))).toBe(limit);
      expect(Number(readFileSync(join(dir("cpu"), "cpu.cfs_quota_us"), "utf8"))).toBe((vm.cpus + 1) * 100_000);
    } else {
      expect(Number(readFileSync(join(dir(""), "memory.max"), "utf8"))).toBe(limit);
      expect(readFileSync(join(dir(""), "cpu.max"), "utf8").trim()).toBe(`${(vm.cpus + 1) * 100_000} 100000`);
    }
  });

  it.skipIf(addonMissing !== null)("hears an engine killed from outside at once through its pidfd, says so, and reaps it", async () => {
    const b = vms[1]!;
    const t0 = Date.now();
    process.kill(b.pid, "SIGKILL");
    const seen = await until("the portal says conf-b was killed", async () => {
      const v = await c.vm.get({ vmId: b.id });
      return v.state === "stopped" && /killed by SIGKILL/.test(v.stateReason ?? "") ? v : null;
    }, 10_000);
    console.log(`engine killed → portal shows it stopped with the reason: ${Date.now() - t0} ms (${seen.stateReason})`);
    // Reaped by the agent (its child subreaper): no zombie left behind.
    await until("no zombie", () => !existsSync(`/proc/${b.pid}`), 5_000);
  });
});
