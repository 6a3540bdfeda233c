// Two portal processes on one PostgreSQL see each other's changes: a VM created through portal 1
// (this process) reaches a live subscriber on portal 2 (a child process) within 1 s, over
// LISTEN/NOTIFY. Without the transport the same change is not heard there, which is what shows
// the transport carries it.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestApi, PG_ADMIN_URL, type TestApi } from "./harness.ts";
import { seed, useBusTransport, type Actor } from "../src/index.ts";
import { postgresBusTransport } from "../src/lib/bus-postgres.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

if (!PG_ADMIN_URL) console.warn("[skip] bus across portals: VDI_TEST_PG_URL is not set (scripts/test.sh sets it)");

describe.runIf(!!PG_ADMIN_URL)("the bus across two portal processes on PostgreSQL", () => {
  let api: TestApi;
  let alice: Actor;
  let templateId: string;
  let child: ChildProcess;
  const lines: Array<Record<string, unknown>> = [];
  const next = (pred: (l: Record<string, unknown>) => boolean, ms: number) => new Promise<Record<string, unknown> | null>((resolve) => {
    const t0 = Date.now();
    const tick = () => {
      const hit = lines.find(pred);
      if (hit) return resolve(hit);
      if (Date.now() - t0 > ms) return resolve(null);
      setTimeout(tick, 10);
    };
    tick();
  });
  beforeAll(async () => {
    api = await openTestApi("postgresql");
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    alice = await api.makeUser("acme", "tenant_admin");
    templateId = (await api.caller(alice).template.list())[0]!.id;
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: 65536, capabilities: caps });
    await api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` })).nodeAgent.sync({ vms: [] });
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await useBusTransport(null);
    await api?.close();
  });

  it("delivers a change made through portal 1 to a live subscriber on portal 2 within 1 s", async () => {
    const transport = postgresBusTransport(api.databaseUrl);
    await useBusTransport(transport);
    await transport.ready;
    child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fixtures/portal-listener.ts")], {
      env: { ...process.env, VDI_BUS_TEST_DB: api.databaseUrl, VDI_BUS_TEST_ACTOR: JSON.stringify(alice) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    createInterface({ input: child.stdout! }).on("line", (l) => { try { lines.push(JSON.parse(l)); } catch { /* not ours */ } });
    expect(await next((l) => l.ready === true, 30_000)).toMatchObject({ transport: "postgresql" });
    expect(await next((l) => l.seq === 0, 10_000)).not.toBeNull();

    const t0 = Date.now();
    await api.caller(alice).vm.create({ templateId, name: "seen-elsewhere" });
    const seen = await next((l) => l.seq === 1, 5_000);
    expect(seen, "portal 2's subscriber heard nothing within 5 s").not.toBeNull();
    const ms = (seen!.at as number) - t0;
    console.log(`bus: a vm.create on portal 1 reached portal 2's subscriber after ${ms} ms`);
    expect(ms).toBeLessThan(1_000);
  }, 60_000);

  it("is the transport that carries it: without it, portal 2 hears nothing", async () => {
    await useBusTransport(null);
    await api.caller(alice).vm.create({ templateId, name: "unheard" });
    expect(await next((l) => l.seq === 2, 2_000)).toBeNull();
    // Connected again, the next change arrives.
    const transport = postgresBusTransport(api.databaseUrl);
    await useBusTransport(transport);
    await transport.ready;
    await api.caller(alice).vm.create({ templateId, name: "heard-again" });
    expect(await next((l) => l.seq === 2, 5_000)).not.toBeNull();
  }, 30_000);
});
