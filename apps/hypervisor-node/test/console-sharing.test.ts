// One console user cannot throw the others off a VM: a ClientInit asking for exclusive access
// reaches the display as shared, and the gateway's own per-VM and per-user console caps hold,
// with the owner always getting in.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLOSE } from "../src/gateway/console-gateway.ts";
import { openConsole, startFakeDisplay, startGateway, VERSION, waitUntil } from "./console-fixtures.ts";

let dir: string;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let display: Awaited<ReturnType<typeof startFakeDisplay>>;
const OWNER = "owner";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vdi-sharing-"));
  display = await startFakeDisplay(join(dir, "vm.sock"), "rfb");
  gateway = await startGateway({ vm: join(dir, "vm.sock") }, {
    limits: { consolesPerVm: 4, consolesPerUser: 2 },
    isOwner: (_vm, user) => user === OWNER,
  });
});
afterAll(async () => {
  await gateway?.close();
  display?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const closeAll = async (cs: ReturnType<typeof openConsole>[]) => {
  for (const c of cs) c.ws.close();
  await waitUntil(() => gateway.gw.activeConnections() === 0, 5_000, "consoles closed");
};

describe("console sharing", () => {
  it("sends an exclusive ClientInit (shared-flag 0) on as shared, in one chunk and byte by byte", async () => {
    const exclusive = Buffer.concat([VERSION, Buffer.from([1]), Buffer.from([0])]);
    for (const split of [false, true]) {
      const before = display.connections.length;
      const c = openConsole(gateway.url, "vm", { user: OWNER, sendHandshake: !split, handshake: exclusive });
      if (split) {
        await new Promise<void>((r) => c.ws.on("open", () => r()));
        for (const b of exclusive) { c.ws.send(Buffer.from([b])); await new Promise((r) => setTimeout(r, 2)); }
      }
      await c.handshake();
      const seen = Buffer.concat(display.connections[before]!.raw);
      expect(seen.subarray(0, 13)).toEqual(exclusive.subarray(0, 13));
      expect(seen[13]).toBe(1);  // ClientInit as the display got it: shared
      await closeAll([c]);
    }
    expect(gateway.logs.some((l) => /asked for exclusive access/.test(l))).toBe(true);
  });

  it("caps consoles per user (the oldest makes way) and per VM for others, and the owner always gets in", async () => {
    const open = async (user: string) => {
      const c = openConsole(gateway.url, "vm", { user });
      await c.handshake();
      return c;
    };
    // A user's third console replaces the first.
    const a1 = await open("alice");
    const a2 = await open("alice");
    const a3 = await open("alice");
    expect((await a1.closed).code).toBe(CLOSE.REPLACED);
    // Others may hold consolesPerVm − consolesPerUser = 2: bob's first is refused with the reason.
    const bob = openConsole(gateway.url, "vm", { user: "bob" });
    const refused = await bob.closed;
    expect(refused.code).toBe(CLOSE.VM_CONSOLES_FULL);
    expect(refused.reason).toMatch(/2 consoles open/);
    // The owner gets in twice (its share is kept free), and the VM is full at 4.
    const o1 = await open(OWNER);
    const o2 = await open(OWNER);
    expect(gateway.gw.activeConnections()).toBe(4);
    // A third console of the owner replaces its own oldest, never refused.
    const o3 = await open(OWNER);
    expect((await o1.closed).code).toBe(CLOSE.REPLACED);
    expect(gateway.gw.activeConnections()).toBe(4);
    expect(a2.ws.readyState).toBe(a2.ws.OPEN);
    expect(a3.ws.readyState).toBe(a3.ws.OPEN);
    await closeAll([a2, a3, o2, o3]);
  });
});
