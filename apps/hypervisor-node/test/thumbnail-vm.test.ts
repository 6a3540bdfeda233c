// Console thumbnails against a real VM: a microVM desktop boots under a real node agent, and the
// portal's service fetches its screen from the node's /thumbnail as a small, non-blank PNG.
import { describe, it, expect } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { fetchVmThumbnail } from "@vdi/api";
import { probeKvm, vmmPaths } from "../src/native.ts";
import { IMAGES, agentFixture, startAgent, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "microvm-desktop", "template.json");
const kvm = probeKvm();
const skipReason = !kvm.usable ? kvm.reason : !existsSync(vmmPaths().vmm) ? `vdi-vmm not built (${vmmPaths().vmm})`
  : !existsSync(TEMPLATE) ? `microVM template not built (${TEMPLATE})` : null;
if (skipReason) console.warn(`[skip] console thumbnail of a microVM: ${skipReason}`);

/** Width, height and the distinct colours of an 8-bit RGB PNG without filtering (what the node writes). */
function readPng(png: Buffer): { width: number; height: number; colours: number } {
  expect(png.subarray(0, 8).toString("latin1")).toBe("\x89PNG\r\n\x1a\n");
  const width = png.readUInt32BE(16), height = png.readUInt32BE(20);
  expect([...png.subarray(24, 29)]).toEqual([8, 2, 0, 0, 0]);
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length;) {
    const len = png.readUInt32BE(off);
    if (png.subarray(off + 4, off + 8).toString() === "IDAT") idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3 + 1;
  expect(raw.length).toBe(stride * height);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    for (let i = y * stride + 1; i < (y + 1) * stride; i += 3) colours.add(raw.readUIntBE(i, 3));
  }
  return { width, height, colours: colours.size };
}

describe.skipIf(skipReason !== null)("console thumbnail of a microVM", () => {
  const f = agentFixture(TEMPLATE, "vdi-thumb-");

  it("serves a small PNG of the desktop, running and paused, and nothing once stopped", async () => {
    const { api, server, alice, templateId, dataDir } = f;
    f.agent = startAgent(server.url, dataDir, { VDI_NODE_NAME: "thumbs" });
    await until("microVM engine reported", async () => (await api.caller(alice).node.list()).find((n) => n.up && n.engines["vdi-vmm"]?.available));
    const { vmId } = await api.caller(alice).vm.create({ templateId, name: "thumb-desk" });
    await until("microVM running", async () => (await api.caller(alice).vm.get({ vmId })).state === "running", 30_000);
    const serial = join(dataDir, "vms", vmId, "serial.log");
    await until("desktop ready", () => existsSync(serial) && readFileSync(serial, "utf8").includes("desktop ready"), 30_000);

    const t0 = Date.now();
    const thumb = await until("a non-blank thumbnail", async () => {
      const t = await fetchVmThumbnail(api.deps, alice, vmId);
      return readPng(t.png).colours > 1 ? t : null;
    }, 20_000);
    const png = readPng(thumb.png);
    console.log(`microVM thumbnail: ${png.width}x${png.height}, ${thumb.png.length} bytes, ${png.colours} colours, ${Date.now() - t0} ms`);
    expect(png.width).toBeLessThanOrEqual(320);
    expect(png.width).toBe(320);                  // the desktop is 1024x768: 320x240 keeps the aspect
    expect(png.height).toBe(240);
    expect(png.colours).toBeGreaterThan(1);
    expect(Math.abs(thumb.at - Date.now())).toBeLessThan(10_000);

    await api.caller(alice).vm.pause({ vmId });
    await until("paused", async () => (await api.caller(alice).vm.get({ vmId })).state === "paused", 20_000);
    await new Promise((r) => setTimeout(r, 3_100));  // past the node's 3 s cache: a fresh grab
    const paused = await fetchVmThumbnail(api.deps, alice, vmId);
    expect(readPng(paused.png).width).toBe(320);
    expect(paused.at).toBeGreaterThan(thumb.at);

    await api.caller(alice).vm.stop({ vmId });
    await until("stopped", async () => (await api.caller(alice).vm.get({ vmId })).state === "stopped", 30_000);
    await expect(fetchVmThumbnail(api.deps, alice, vmId)).rejects.toMatchObject({ code: "INVALID_STATE" });
  }, 120_000);
});
