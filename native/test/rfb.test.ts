// The VMM's RFB server against a client that keeps its own copy of the screen from incremental
// Raw and CopyRect updates: after typing enough lines to scroll the desktop's window, CopyRect
// was used and the client's copy equals a fresh full frame.
import { describe, it, expect, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeKvm, vmmPaths } from "../src/index.ts";

const { vmm, guests } = vmmPaths();
const kvm = probeKvm();
const skip = !kvm.usable ? kvm.reason : !existsSync(vmm) ? `vdi-vmm is not built (${vmm})` : null;
if (skip) console.warn(`[skip] RFB server tests: ${skip}`);
const work = mkdtempSync(join(tmpdir(), "vdi-rfb-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A small RFB 3.8 client: Raw + CopyRect (+ DesktopSize), keeps the frame in `px`. */
class Viewer {
  px = Buffer.alloc(0);
  width = 0;
  height = 0;
  copyRects = 0;
  updates = 0;
  private buf = Buffer.alloc(0);
  private stage = "version";
  private rects = 0;
  private waiters: (() => void)[] = [];
  constructor(private readonly s: Socket, encodings: number[]) {
    s.on("data", (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.parse(encodings); });
  }
  static open(path: string, encodings: number[]) {
    return new Promise<Viewer>((res, rej) => { const s = connect(path); s.once("connect", () => res(new Viewer(s, encodings))); s.once("error", rej); });
  }
  private parse(encodings: number[]) {
    for (;;) {
      const b = this.buf;
      if (this.stage === "version" && b.length >= 12) { this.buf = b.subarray(12); this.s.write("RFB 003.008\n"); this.stage = "sec"; continue; }
      if (this.stage === "sec" && b.length >= 1 + (b[0] ?? 0) && b.length >= 1) { this.buf = b.subarray(1 + b[0]!); this.s.write(Buffer.from([1])); this.stage = "res"; continue; }
      if (this.stage === "res" && b.length >= 4) { this.buf = b.subarray(4); this.s.write(Buffer.from([1])); this.stage = "init"; continue; }
      if (this.stage === "init" && b.length >= 24 && b.length >= 24 + b.readUInt32BE(20)) {
        this.width = b.readUInt16BE(0); this.height = b.readUInt16BE(2);
        this.px = Buffer.alloc(this.width * this.height * 4);
        this.buf = b.subarray(24 + b.readUInt32BE(20));
        const e = Buffer.alloc(4 + 4 * encodings.length); e[0] = 2; e.writeUInt16BE(encodings.length, 2);
        encodings.forEach((x, i) => e.writeInt32BE(x, 4 + 4 * i));
        this.s.write(e);
        this.request(0);
        this.stage = "msg"; continue;
      }
      if (this.stage === "msg" && b.length >= 4) { this.rects = b.readUInt16BE(2); this.buf = b.subarray(4); this.stage = "rect"; if (!this.rects) this.done(); continue; }
      if (this.stage === "rect" && b.length >= 12) {
        const x = b.readUInt16BE(0), y = b.readUInt16BE(2), w = b.readUInt16BE(4), h = b.readUInt16BE(6), enc = b.readInt32BE(8);
        if (enc === 0) {
          if (b.length < 12 + w * h * 4) return;
          for (let r = 0; r < h; r++) b.copy(this.px, ((y + r) * this.width + x) * 4, 12 + r * w * 4, 12 + (r + 1) * w * 4);
          this.buf = b.subarray(12 + w * h * 4);
        } else if (enc === 1) {
          if (b.length < 16) return;
          const sx = b.readUInt16BE(12), sy = b.readUInt16BE(14);
          const src = Buffer.alloc(w * h * 4);
          for (let r = 0; r < h; r++) this.px.copy(src, r * w * 4, ((sy + r) * this.width + sx) * 4, ((sy + r) * this.width + sx + w) * 4);
          for (let r = 0; r < h; r++) src.copy(this.px, ((y + r) * this.width + x) * 4, r * w * 4, (r + 1) * w * 4);
          this.copyRects++;
          this.buf = b.subarray(16);
        } else if (enc === -223) {
          this.width = w; this.height = h; this.px = Buffer.alloc(w * h * 4); this.buf = b.subarray(12);
        } else throw new Error(`unexpected encoding ${enc}`);
        if (--this.rects === 0) this.done();
        continue;
      }
      return;
    }
  }
  private done() { this.stage = "msg"; this.updates++; for (const w of this.waiters.splice(0)) w(); this.request(1); }
  request(inc: number) { const m = Buffer.alloc(10); m[0] = 3; m[1] = inc; m.writeUInt16BE(this.width, 6); m.writeUInt16BE(this.height, 8); this.s.write(m); }
  nextUpdate() { return new Promise<void>((r) => this.waiters.push(r)); }
  keys(text: string) {
    const out: Buffer[] = [];
    for (const ch of text) for (const down of [1, 0]) { const b = Buffer.alloc(8); b[0] = 4; b[1] = down; b.writeUInt32BE(ch === "\n" ? 0xff0d : ch.charCodeAt(0), 4); out.push(b); }
    this.s.write(Buffer.concat(out));
  }
  close() { this.s.destroy(); }
}

describe.skipIf(skip !== null)("RFB server", () => {
  it("scrolls the desktop's window with CopyRect and keeps the client's frame exact", async () => {
    const vnc = join(work, "d.vnc"), serial = join(work, "d.serial");
    const child = spawn(vmm, ["--kernel", join(guests, "desktop.elf"), "--vnc", vnc, "--serial-log", serial], { stdio: "ignore" });
    try {
      for (let i = 0; i < 200 && !(existsSync(serial) && readFileSync(serial, "utf8").includes("desktop ready")); i++) await new Promise((r) => setTimeout(r, 20));
      const v = await Viewer.open(vnc, [1, 0, -223]);
      await v.nextUpdate();
      // The window holds 26 lines, so 32 lines scroll it. One line at a time, as a person types
      // (the PS/2 controller holds 256 bytes, like real hardware).
      for (let i = 0; i < 32; i++) {
        v.keys(`line ${i}\n`);
        for (let t = 0; t < 200 && !readFileSync(serial, "utf8").includes(`typed: line ${i}\n`); t++) await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 300));  // let the last updates arrive (the clock ticks too)
      const fresh = await Viewer.open(vnc, [0, -223]);
      await fresh.nextUpdate();
      await v.nextUpdate();
      // The clock may tick between the two frames: compare everything but its corner.
      const differing: number[] = [];
      for (let y = 40; y < v.height; y++) for (let x = 0; x < v.width; x++) {
        const o = (y * v.width + x) * 4;
        if (v.px.readUInt32LE(o) !== fresh.px.readUInt32LE(o)) differing.push(o);
      }
      expect(v.copyRects).toBeGreaterThan(0);
      expect(differing.length).toBe(0);
      v.close();
      fresh.close();
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
