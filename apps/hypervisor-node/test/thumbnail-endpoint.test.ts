// The node's /thumbnail endpoint and its cache: only portal-signed "thumb" tokens for this node,
// many viewers cost one grab per VM per 3 s, at most two grabs run at once, failures are not kept.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createConsoleSigner, generateConsoleKeyPem } from "@vdi/api";
import type { RfbFrame } from "../src/rfb/rfb-snapshot.ts";
import { createThumbnailCache, ThumbnailBusyError } from "../src/thumbnail/thumbnail.ts";
import { createThumbnailEndpoint } from "../src/thumbnail/thumbnail-endpoint.ts";
import { createAdmission } from "../src/gateway/admission.ts";

const frame = (w: number, h: number, v = 90): RfbFrame => ({ width: w, height: h, rgba: Buffer.alloc(w * h * 4, v) });

/** A grab that resolves when the test says so. */
function controlledGrab() {
  const calls: { path: string; resolve: (f: RfbFrame) => void; reject: (e: Error) => void }[] = [];
  const grab = (path: string) => new Promise<RfbFrame>((resolve, reject) => calls.push({ path, resolve, reject }));
  return { calls, grab };
}
const tick = () => new Promise((r) => setImmediate(r));

describe("thumbnail cache", () => {
  it("shares one grab among concurrent viewers and reuses it for 3 s", async () => {
    let t = 1_000_000;
    const { calls, grab } = controlledGrab();
    const cache = createThumbnailCache({ displayOf: () => "/run/vm1.sock", grab, now: () => t });
    const a = cache.get("vm1"), b = cache.get("vm1");
    await tick();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve(frame(640, 480));
    const [ta, tb] = await Promise.all([a, b]);
    expect(ta).toBe(tb);
    expect([ta!.width, ta!.height, ta!.at]).toEqual([320, 240, 1_000_000]);
    t += 2_999;
    expect(await cache.get("vm1")).toBe(ta);
    t += 1;
    const c = cache.get("vm1");
    await tick();
    expect(calls).toHaveLength(2);
    calls[1]!.resolve(frame(640, 480));
    expect((await c)!.at).toBe(1_003_000);
  });

  it("runs at most two grabs at once and refuses beyond the waiting room", async () => {
    const { calls, grab } = controlledGrab();
    const cache = createThumbnailCache({ displayOf: (vm) => `/run/${vm}.sock`, grab, maxWaiting: 2 });
    const pending = ["a", "b", "c", "d"].map((vm) => cache.get(vm));
    await expect(cache.get("e")).rejects.toBeInstanceOf(ThumbnailBusyError);
    await tick();
    expect(calls.map((c) => c.path)).toEqual(["/run/a.sock", "/run/b.sock"]);
    expect(cache.inFlight()).toBe(2);
    calls[0]!.resolve(frame(8, 8));
    await tick();
    expect(calls.map((c) => c.path)).toEqual(["/run/a.sock", "/run/b.sock", "/run/c.sock"]);
    calls[1]!.reject(new Error("display gone"));
    calls[2]!.resolve(frame(8, 8));
    await tick();
    calls[3]!.resolve(frame(8, 8));
    const results = await Promise.allSettled(pending);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(cache.inFlight()).toBe(0);
    // The failure was not cached: the next request grabs again.
    void cache.get("b");
    await tick();
    expect(calls).toHaveLength(5);
    calls[4]!.resolve(frame(8, 8));
  });

  it("answers null for a VM without a display, and forgets a VM once it stops", async () => {
    let display: string | null = "/run/vm1.sock";
    const { calls, grab } = controlledGrab();
    const cache = createThumbnailCache({ displayOf: () => display, grab });
    const first = cache.get("vm1");
    await tick();
    calls[0]!.resolve(frame(8, 8));
    await first;
    display = null;
    expect(await cache.get("vm1")).toBeNull();
    expect(cache.size()).toBe(0);
  });
});

describe("GET /thumbnail", () => {
  const signer = createConsoleSigner(generateConsoleKeyPem());
  const other = createConsoleSigner(generateConsoleKeyPem());
  let grabs = 0;
  let http: Server;
  let base: string;
  const claims = { vm: "vm1", node: "node1", user: "u1", proto: "thumb" as const };
  // The node's one admission: u1 may use every VM here, u2 none (the portal's access table).
  const admission = createAdmission({
    nodeId: () => "node1",
    publicKeyPem: () => signer.publicKeyPem,
    mayOpen: (_vm, user) => (user === "u1" ? "allowed" : "denied"),
  });

  beforeAll(async () => {
    const endpoint = createThumbnailEndpoint({
      admission,
      displayOf: (vm) => (vm === "vm1" ? "/run/vm1.sock" : vm === "broken" ? "/run/broken.sock" : null),
      log: () => undefined,
      grab: async (path) => {
        grabs++;
        if (path.includes("broken")) throw new Error("RFB snapshot: display closed the connection");
        return frame(1024, 768, 200);
      },
    });
    http = createServer((req, res) => void endpoint.handle(req, res));
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/thumbnail`;
  });
  afterAll(() => http.close());

  const get = async (token: string, method = "GET") => {
    const res = await fetch(`${base}?token=${encodeURIComponent(token)}`, { method });
    return { status: res.status, type: res.headers.get("content-type"), cache: res.headers.get("cache-control"), body: Buffer.from(await res.arrayBuffer()) };
  };

  it("serves a PNG for a thumb token, more than once, from one grab", async () => {
    const { token } = signer.sign(claims);
    const first = await get(token);
    expect([first.status, first.type, first.cache]).toEqual([200, "image/png", "no-store"]);
    expect(first.body.subarray(1, 4).toString()).toBe("PNG");
    expect(first.body.readUInt32BE(16)).toBe(320);  // IHDR width
    expect(first.body.readUInt32BE(20)).toBe(240);
    const again = await get(token);
    expect(again.status).toBe(200);
    expect(again.body.equals(first.body)).toBe(true);
    expect(grabs).toBe(1);
  });

  it("refuses bad, foreign, console and other-node tokens with 401 and a reason", async () => {
    expect(await get("garbage")).toMatchObject({ status: 401, body: Buffer.from("invalid token: malformed token") });
    expect((await get(other.sign(claims).token)).body.toString()).toBe("invalid token: bad signature");
    expect(await get(signer.sign({ ...claims, proto: "vnc" }).token)).toMatchObject({ status: 401, body: Buffer.from("not a thumbnail token") });
    expect(await get(signer.sign({ ...claims, node: "node2" }).token)).toMatchObject({ status: 401, body: Buffer.from("token is for another node") });
    expect((await get(signer.sign(claims, Date.now() - 61_000).token)).body.toString()).toBe("invalid token: token expired");
  });

  it("refuses users the portal revoked or does not let use the VM, with 403, as the console does", async () => {
    expect(await get(signer.sign({ ...claims, user: "u2" }).token)).toMatchObject({ status: 403, body: Buffer.from("user may not use this VM") });
    const token = signer.sign(claims).token;
    expect((await get(token)).status).toBe(200);
    admission.setRevoked(["u1"]);
    expect(await get(token)).toMatchObject({ status: 403, body: Buffer.from("access revoked") });
    admission.setRevoked([]);
    expect((await get(token)).status).toBe(200);
  });

  it("answers 404 for a VM without a display, 502 when the grab fails, 405 for other methods", async () => {
    expect((await get(signer.sign({ ...claims, vm: "vm2" }).token)).status).toBe(404);
    expect(await get(signer.sign({ ...claims, vm: "broken" }).token)).toMatchObject({ status: 502, body: Buffer.from("could not read the VM's display") });
    expect((await get(signer.sign(claims).token, "POST")).status).toBe(405);
  });
});
