// Boots every test guest in vdi-vmm on this machine's KVM: each reports pass/fail through the
// debug-exit port. Guests that print "midway" are run twice more: snapshotted there, then
// restored into a fresh VMM process that must finish the test.
import { describe, it, expect, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeKvm, vmmPaths } from "../src/index.ts";

const { vmm, guests } = vmmPaths();
const kvm = probeKvm();
const skip = !kvm.usable ? kvm.reason : !existsSync(vmm) ? `vdi-vmm is not built (${vmm}; make -C native)` : null;
if (skip) console.warn(`[skip] native guest tests: ${skip}`);
const work = mkdtempSync(join(tmpdir(), "vdi-guests-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run { status: number | null; signal: NodeJS.Signals | null; stderr: string; serial: string }

function runVmm(args: string[], serial: string, onSerial?: (text: string, ctl: string) => Promise<void>, ctl?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(vmm, [...args, "--serial-log", serial, ...(ctl ? ["--control", ctl] : [])], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let hooked: Promise<void> | null = null;
    const poll = setInterval(() => {
      if (!onSerial || hooked || !existsSync(serial)) return;
      const text = readFileSync(serial, "utf8");
      if (text.includes("midway")) hooked = onSerial(text, ctl!);
    }, 5);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (status, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      // The hook's own work (a reply from the control socket) finishes before the run is reported.
      void Promise.resolve(hooked).catch(() => undefined).then(() =>
        resolve({ status, signal, stderr, serial: existsSync(serial) ? readFileSync(serial, "utf8") : "" }));
    });
  });
}

function control(path: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\n")) { s.end(); resolve(buf.trim()); }
    });
    s.on("error", reject);
    s.write(`${line}\n`);
  });
}

const PASS = 1; // debug exit 0 → status (0 << 1) | 1

describe.skipIf(skip !== null)("native guests", () => {
  it.each(["hello", "garbage_io", "timer_user", "framebuffer"])("%s passes when booted fresh", async (g) => {
    const r = await runVmm(["--kernel", join(guests, `${g}.elf`)], join(work, `${g}.serial`));
    expect(r.signal).toBeNull();
    expect([r.status, r.stderr.trim().split("\n").pop()]).toEqual([PASS, "vmm: stopped: guest reported pass"]);
  });

  it("stops a triple-faulting guest with a clear reason; the VMM itself exits normally", async () => {
    const r = await runVmm(["--kernel", join(guests, "triple_fault.elf")], join(work, "tf.serial"));
    expect(r.signal).toBeNull();
    expect([3, 5]).toContain(r.status);
    expect(r.stderr).toMatch(/vmm: stopped: guest (triple-faulted|crashed)/);
  });

  it.each(["timer_user", "framebuffer"])("%s passes when restored from a snapshot taken midway", async (g) => {
    const snap = join(work, `${g}.snap`);
    const ctl = join(work, `${g}.ctl`);
    let saved = "";
    const first = await runVmm(["--kernel", join(guests, `${g}.elf`)], join(work, `${g}.1.serial`), async (_t, c) => {
      saved = await control(c, `snapshot ${snap}`);
    }, ctl);
    expect(saved).toMatch(/^ok us=\d+$/);
    // The original was paused for the snapshot and resumed: it finishes too.
    expect([first.status, first.stderr.trim().split("\n").pop()]).toEqual([PASS, "vmm: stopped: guest reported pass"]);
    const restored = await runVmm(["--restore", snap], join(work, `${g}.2.serial`));
    expect([restored.status, restored.stderr.trim().split("\n").pop()]).toEqual([PASS, "vmm: stopped: guest reported pass"]);
    expect(restored.serial).not.toContain("midway"); // it went on from where it was, not from the start
  });

  it("clones: a restore with a new identity runs on with its own vm id, the original keeps its own", async () => {
    const snap = join(work, "timer_user.snap");  // taken midway by the test above
    const clone = await runVmm(["--restore", snap, "--vm-id", "42", "--mac", "52:54:00:aa:bb:cc"], join(work, "clone.serial"));
    const plain = await runVmm(["--restore", snap], join(work, "plain.serial"));
    expect([clone.status, plain.status]).toEqual([PASS, PASS]);
    expect(clone.serial).toContain("vm id 0042");
    expect(plain.serial).toContain("vm id 0000");
  });

  it("live-migrates a running guest to a second VMM process, which finishes the test", async () => {
    const target = join(work, "mig-target.sock");
    const incoming = runVmm(["--incoming", target], join(work, "mig-target.serial"));
    let reply = "";
    const source = await runVmm(["--kernel", join(guests, "timer_user.elf"), "--mem", "256"], join(work, "mig-source.serial"), async (_t, c) => {
      for (let i = 0; i < 100 && !existsSync(target); i++) await new Promise((r) => setTimeout(r, 10));
      reply = await control(c, `migrate ${target}`);
    }, join(work, "mig-source.ctl"));
    expect(reply).toMatch(/^ok total_us=\d+ downtime_us=\d+ rounds=\d+ pages=\d+$/);
    expect(source.stderr).toContain(`migrated to ${target}`);
    const t = await incoming;
    expect([t.status, t.stderr.trim().split("\n").pop()]).toEqual([PASS, "vmm: stopped: guest reported pass"]);
    expect(t.serial).toContain("ticks ok");
  });

  it("refuses truncated, corrupted and wrong-version snapshots without crashing", async () => {
    const snap = join(work, "timer_user.snap");
    const { copyFileSync, mkdirSync, writeFileSync, truncateSync } = await import("node:fs");
    const variant = (name: string, mutate: (dir: string) => void) => {
      const dir = join(work, name);
      mkdirSync(dir);
      for (const f of ["state.bin", "ram.bin", "fb.bin"]) copyFileSync(join(snap, f), join(dir, f));
      mutate(dir);
      return dir;
    };
    const cases: [string, string, RegExp][] = [
      ["trunc-state", variant("trunc-state", (d) => truncateSync(join(d, "state.bin"), 100)), /state length|truncated/],
      ["trunc-ram", variant("trunc-ram", (d) => truncateSync(join(d, "ram.bin"), 4096)), /wrong size/],
      ["corrupt", variant("corrupt", (d) => { const b = readFileSync(join(d, "state.bin")); b[b.length - 7]! ^= 0xff; writeFileSync(join(d, "state.bin"), b); }), /checksum/],
      ["version", variant("version", (d) => { const b = readFileSync(join(d, "state.bin")); b.writeUInt32LE(99, 8); writeFileSync(join(d, "state.bin"), b); }), /unsupported snapshot version 99/],
    ];
    for (const [name, dir, why] of cases) {
      const r = await runVmm(["--restore", dir], join(work, `${name}.serial`));
      expect([name, r.signal, r.status]).toEqual([name, null, 65]);
      expect(r.stderr).toMatch(why);
    }
  });
});

// A stock Linux kernel through the 64-bit boot protocol needs its supervisor code at hardware speed.
const linuxImage = join(import.meta.dirname, "../../var/images/debian-shell");
const linuxSkip = skip ?? (kvm.softwareNested ? `Linux boot needs hardware virtualization: ${kvm.reason}`
  : !existsSync(join(linuxImage, "vmlinuz")) ? `no kernel at ${linuxImage} (scripts/build-images.sh)` : null);
if (linuxSkip) console.warn(`[skip] Linux boot protocol test: ${linuxSkip}`);

describe.skipIf(linuxSkip !== null)("Linux guests", () => {
  it("boots Debian's kernel and the busybox initramfs to the serial marker", async () => {
    const serial = join(work, "linux.serial");
    const child = spawn(vmm, ["--linux", join(linuxImage, "vmlinuz"), "--initrd", join(linuxImage, "initrd.img"),
      "--cmdline", "console=ttyS0 quiet panic=-1", "--mem", "256", "--serial-log", serial], { stdio: "ignore" });
    try {
      const end = Date.now() + 60_000;
      while (Date.now() < end && !(existsSync(serial) && readFileSync(serial, "utf8").includes("VDI-GUEST-READY"))) await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(serial, "utf8")).toContain("VDI-GUEST-READY");
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);
});
