// Placement (docs/multi-node.md): the filters and the two policies as a pure function, each
// choice explained; then through vm.create on both databases with three registered nodes: the
// operation's log holds the reasons, which platform admins read and tenant users do not.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { code, openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";
import { choosePlacement, type NodeFacts } from "../src/services/vm/placement.ts";

const node = (name: string, over: Partial<NodeFacts> = {}): NodeFacts => ({
  id: name, name, drained: false, down: null, engineMissing: null, hasImage: true,
  totalCpus: 8, totalMemoryMiB: 8192, usedCpus: 0, usedMemoryMiB: 0, vms: 0, ...over,
});
const want = { engine: "qemu", image: "debian-shell", cpus: 2, memoryMiB: 1024 };

describe("placement, the pure choice", () => {
  it("spreads to the node with the most memory left, packs onto the fullest that fits, and breaks ties by VM count", () => {
    const nodes = [node("a", { usedMemoryMiB: 6144, vms: 6 }), node("b", { usedMemoryMiB: 2048, vms: 2 }), node("c", { usedMemoryMiB: 2048, vms: 1 })];
    const spread = choosePlacement(nodes, want, { mode: "spread", overcommit: { cpu: 4, memory: 1 } });
    expect(spread.chosen?.name).toBe("c");
    expect(spread.reasons[0]).toBe("chose c (spread: 6 GiB of memory left before this VM, 1 VM)");
    expect(spread.reasons).toContain("b: fits, 6 GiB left, 2 VMs (spread prefers c)");
    const pack = choosePlacement(nodes, want, { mode: "pack", overcommit: { cpu: 4, memory: 1 } });
    expect(pack.chosen?.name).toBe("a");
    expect(pack.reasons[0]).toBe("chose a (pack: 2 GiB of memory left before this VM, 6 VMs)");
  });

  it("leaves out drained, down, engine-less, image-less and full nodes, saying which and why; overcommit is per resource", () => {
    const nodes = [
      node("drained", { drained: true }), node("down", { down: "last seen 2 min ago" }), node("noengine", { engineMissing: "QEMU is not installed" }),
      node("noimage", { hasImage: false }), node("fullmem", { usedMemoryMiB: 7680 }), node("fullcpu", { usedCpus: 31 }),
    ];
    const r = choosePlacement(nodes, want);
    expect(r.chosen).toBeNull();
    expect(r.reasons).toEqual([
      "drained: drained for maintenance", "down: down (last seen 2 min ago)", "noengine: no qemu engine (QEMU is not installed)",
      'noimage: no image "debian-shell"', "fullmem: memory: 0.5 GiB left of 8 GiB, 1 GiB asked", "fullcpu: vCPUs: 31 of 32 in use (×4 overcommit), 2 asked",
    ]);
    expect(r.summary).toContain("fullmem: memory: 0.5 GiB left of 8 GiB");
    // With memory overcommitted ×1.5, the full one fits; with vCPUs at ×1, a node with 7 of 8 in use does not.
    expect(choosePlacement([node("m", { usedMemoryMiB: 7680 })], want, { mode: "spread", overcommit: { cpu: 4, memory: 1.5 } }).chosen?.name).toBe("m");
    expect(choosePlacement([node("c", { usedCpus: 7 })], want, { mode: "spread", overcommit: { cpu: 1, memory: 1 } }).reasons).toEqual(["c: vCPUs: 7 of 8 in use (×1 overcommit), 2 asked"]);
    expect(choosePlacement([], want).summary).toBe("no hypervisor node is registered yet");
  });
});

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 1024, minMemoryMiB: 128, maxMemoryMiB: 4096, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

describe.each(providers)("placement through vm.create on %s", (provider) => {
  let api: TestApi;
  let root: Actor, user: Actor;
  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "r@x.test", password: "admin-password" }, demo: { email: "d@x.test", password: "demo-password" }, templates: [template] });
    root = await api.makeUser("acme", "admin");
    user = await api.makeUser("acme", "user");
    const reg = (name: string, mem: number, images = caps.images) => api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name, apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 4, totalMemoryMiB: mem, capabilities: { ...caps, images } });
    await reg("small", 2048);
    await reg("big", 8192);
    await reg("bare", 16384, []);
  });
  afterAll(async () => api?.close());

  it("places by the policy, and the create's log says why; tenant users get the operation without it", async () => {
    const templateId = (await api.caller(user).template.list()).find((t) => t.title === "Debian shell")!.id;
    const first = await api.caller(user).vm.create({ templateId, name: "p1" });
    const op = await api.db.operation.findUniqueOrThrow({ where: { id: first.operationId } });
    expect(op.detail).toMatch(/^placement: chose big \(spread: 8 GiB of memory left before this VM, 0 VMs\); small: fits, 2 GiB left, 0 VMs \(spread prefers big\); bare: no image "debian-shell"$/);
    expect((await api.caller(user).operation.get({ operationId: first.operationId })).detail).toBeNull();
    const rootVm = await api.caller(root).vm.create({ templateId, name: "p2" });
    expect((await api.caller(root).operation.get({ operationId: rootVm.operationId })).detail).toMatch(/^placement: chose big/);
    // Packed: the fullest node that fits.
    const packed = { ...api.deps, placement: { mode: "pack" as const, overcommit: { cpu: 4, memory: 1 } } };
    const { createVm } = await import("../src/services/vm/create-vm.ts");
    const p3 = await createVm({ ...packed, ip: null }, user, { templateId, name: "p3" });
    expect((await api.db.operation.findUniqueOrThrow({ where: { id: p3.operationId } })).detail).toMatch(/^placement: chose small \(pack: 2 GiB/);
    // Packing fills big next; then nothing has room, and the refusal gives each node's reason.
    const p4 = await createVm({ ...packed, ip: null }, root, { templateId, name: "p4", memoryMiB: 4096 });
    expect((await api.db.operation.findUniqueOrThrow({ where: { id: p4.operationId } })).detail).toMatch(/^placement: chose big \(pack: 6 GiB/);
    await expect(createVm({ ...packed, ip: null }, root, { templateId, name: "p5", memoryMiB: 4096 })).rejects.toMatchObject({
      code: "NO_CAPACITY", message: "No node has room for this VM (small: memory: 1 GiB left of 2 GiB, 4 GiB asked; big: memory: 2 GiB left of 8 GiB, 4 GiB asked)",
    });
    // Through the API, the same refusal maps to its tRPC code.
    expect(await code(api.caller(root).vm.create({ templateId, name: "p6", memoryMiB: 4096 }))).toMatch(/^SERVICE_UNAVAILABLE: No node has room for this VM \(small: memory: 1 GiB left/);
  });
});
