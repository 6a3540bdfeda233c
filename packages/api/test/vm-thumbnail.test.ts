// fetchVmThumbnail: tenant-scoped, running VMs only, signs a "thumb" token and fetches the PNG from
// the node server-side (a stand-in node here), refusing what a node must not send. No audit rows.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { fetchVmThumbnail, isAppError, seed, type Actor } from "../src/index.ts";
import { verifyConsoleToken } from "@vdi/node-protocol/capability-token";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from("rest of a png")]);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isAppError(e) ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
  }
  return "ok";
}

describe.each(providers)("VM thumbnails on %s", (provider) => {
  let api: TestApi;
  let alice: Actor;
  let mallory: Actor;
  let vmId: string;
  let publicKeyPem: string;
  let nodeId: string;
  let node: Server;
  let mode: "png" | "missing" | "huge" | "not-png" | "error" | "slow" = "png";
  const tokens: string[] = [];
  let sync: (state: string) => Promise<void>;

  beforeAll(async () => {
    // The stand-in node: answers /thumbnail as the current mode says, and records the tokens it got.
    node = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname !== "/thumbnail") return res.writeHead(404).end();
      tokens.push(url.searchParams.get("token") ?? "");
      if (mode === "png") return res.writeHead(200, { "content-type": "image/png", "x-thumbnail-at": "1700000000000" }).end(PNG);
      if (mode === "missing") return res.writeHead(404).end("VM is not running on this node");
      if (mode === "not-png") return res.writeHead(200, { "content-type": "image/png" }).end("<html>");
      if (mode === "error") return res.writeHead(401).end("invalid token: bad signature");
      if (mode === "huge") {
        // No content-length: the cap must hold while streaming.
        res.writeHead(200, { "content-type": "image/png" });
        res.write(PNG);
        const chunk = Buffer.alloc(256 * 1024);
        let sent = 0;
        const more = () => { while (sent < 12 && res.write(chunk)) sent++; if (sent < 12) res.once("drain", () => { sent++; more(); }); else res.end(); };
        more();
        res.on("error", () => undefined);
        return;
      }
      // slow: never answers
    });
    await new Promise<void>((r) => node.listen(0, "127.0.0.1", r));
    const apiUrl = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;

    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    alice = await api.makeUser("acme");
    mallory = await api.makeUser("evil");
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl, consoleUrl: "ws://127.0.0.1:1", totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps });
    publicKeyPem = reg.consolePublicKeyPem;
    nodeId = reg.nodeId;
    const agent = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    const templateId = (await api.caller(alice).template.list())[0]!.id;
    const created = await api.caller(alice).vm.create({ templateId, name: "thumb-1" });
    vmId = created.vmId;
    sync = async (state) => { await agent.nodeAgent.sync({ vms: [{ id: vmId, state: state as "running" }] }); };
  });
  afterAll(async () => {
    node?.closeAllConnections();
    node?.close();
    await api?.close();
  });

  it("refuses a VM that is not running yet, and unknown ids", async () => {
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toMatch(/^INVALID_STATE: A screen thumbnail needs a running VM \("thumb-1" is /);
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, "nope0000"))).toBe("NOT_FOUND: VM not found");
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, "../etc"))).toBe("NOT_FOUND: VM not found");
    expect(tokens).toHaveLength(0);
  });

  it("fetches the PNG from the node with a thumb token bound to user, VM and node, and audits nothing", async () => {
    await sync("running");
    const audits = await api.db.auditEvent.count();
    const thumb = await fetchVmThumbnail(api.deps, alice, vmId);
    expect(thumb.png.equals(PNG)).toBe(true);
    expect(thumb.at).toBe(1_700_000_000_000);
    const v = verifyConsoleToken(tokens.at(-1)!, publicKeyPem);
    expect(v.ok && v.claims).toMatchObject({ vm: vmId, node: nodeId, user: alice.userId, proto: "thumb" });
    expect(await api.db.auditEvent.count()).toBe(audits);
  });

  it("hides other tenants' VMs as not found, without asking the node", async () => {
    const asked = tokens.length;
    expect(await codeOf(fetchVmThumbnail(api.deps, mallory, vmId))).toBe("NOT_FOUND: VM not found");
    expect(tokens).toHaveLength(asked);
  });

  it("maps what the node answers: no display, errors, oversize bodies, non-PNG", async () => {
    mode = "missing";
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toBe('INVALID_STATE: "thumb-1" has no screen on its node yet');
    mode = "error";
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toBe("NODE_UNAVAILABLE: The screen is unavailable: node n1 answered 401 (invalid token: bad signature)");
    mode = "huge";
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toBe("NODE_UNAVAILABLE: The screen is unavailable: node n1 sent more than 2097152 bytes");
    mode = "not-png";
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toBe("NODE_UNAVAILABLE: The screen is unavailable: node n1 sent something that is not a PNG");
  });

  it("gives up on a node that does not answer within 4 s", async () => {
    mode = "slow";
    const t0 = Date.now();
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toBe("NODE_UNAVAILABLE: The screen is unavailable: node n1 did not answer within 4 s");
    expect(Date.now() - t0).toBeLessThan(6_000);
    mode = "png";
  }, 15_000);

  it("works for a paused VM, refuses a stopped one and one whose node is down", async () => {
    await sync("paused");
    expect((await fetchVmThumbnail(api.deps, alice, vmId)).png.equals(PNG)).toBe(true);
    await sync("stopped");
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toMatch(/^INVALID_STATE: A screen thumbnail needs a running VM \("thumb-1" is stopped\)/);
    await sync("running");
    await api.db.node.update({ where: { id: nodeId }, data: { lastSeenAt: new Date(Date.now() - 60_000) } });
    expect(await codeOf(fetchVmThumbnail(api.deps, alice, vmId))).toMatch(/^NODE_UNAVAILABLE: The screen is unavailable: node n1 last seen/);
  });
});
