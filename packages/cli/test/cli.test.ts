// The real vdi binary against a real HTTP API with real tokens: tables, JSON, lifecycle by name, clear failures.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { openTestApi, serveApi, type TestApi } from "@vdi/api/testing";
import { seed, type Actor } from "@vdi/api";

const BIN = fileURLToPath(new URL("../bin/vdi.mjs", import.meta.url));
const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

interface Run { code: number; stdout: string; stderr: string }

function vdi(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const clean = { ...process.env };
  delete clean.VDI_URL;
  delete clean.VDI_TOKEN;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...clean, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as import("node:net").AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const noStack = (r: Run) => expect(r.stderr + r.stdout).not.toMatch(/\n\s+at |\.ts:\d+|TRPCClientError/);

describe("vdi CLI", () => {
  let api: TestApi;
  let server: { url: string; close(): Promise<void> };
  let alice: Actor;
  let node: ReturnType<TestApi["caller"]>;
  let readToken: string;
  let writeToken: string;

  beforeAll(async () => {
    api = await openTestApi("sqlite");
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    alice = await api.makeUser("acme");
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: 16384, capabilities: caps });
    node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    await node.nodeAgent.sync({ vms: [] });
    const templateId = (await api.caller(alice).template.list())[0]!.id;
    await api.caller(alice).vm.create({ templateId, name: "existing-1" });
    readToken = (await api.caller(alice).apiToken.create({ name: "read", scopes: ["vm:read"], expiresInDays: 1 })).token;
    writeToken = (await api.caller(alice).apiToken.create({ name: "write", scopes: ["vm:read", "vm:write"], expiresInDays: 1 })).token;
    server = await serveApi(api.deps);
  });
  afterAll(async () => {
    await server?.close();
    await api?.close();
  });

  it("lists VMs as a table and as JSON, with the token from the environment or flags", async () => {
    const table = await vdi(["vms"], { VDI_URL: server.url, VDI_TOKEN: readToken });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+STATE\s+CPUS\s+MEMORY\s+TEMPLATE\s+NODE\s+ID\n/);
    expect(table.stdout).toMatch(/existing-1\s+provisioning\s+1\s+256 MiB\s+debian-shell\s+n1\s+[a-z0-9]+/);
    const json = await vdi(["vms", "--json", "--url", server.url, "--token", readToken], {});
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { name: string }[]).map((v) => v.name)).toEqual(["existing-1"]);
    const templates = await vdi(["templates"], { VDI_URL: server.url, VDI_TOKEN: readToken });
    expect(templates.stdout).toMatch(/debian-shell\s+Debian shell\s+qemu/);
  });

  it("creates, stops, powers off and deletes a VM by name with a vm:write token", async () => {
    const env = { VDI_URL: server.url, VDI_TOKEN: writeToken };
    const created = await vdi(["create", "cli-1", "--template", "debian-shell", "--cpus", "2", "--memory", "512", "--json"], env);
    expect(created.code).toBe(0);
    const { vmId, operationId } = JSON.parse(created.stdout) as { vmId: string; operationId: string };
    expect(await api.db.vm.findUniqueOrThrow({ where: { id: vmId } })).toMatchObject({ name: "cli-1", cpus: 2, memoryMiB: 512, tenantId: alice.tenantId });
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "running", op: { id: operationId, status: "succeeded", progress: 100 } }] });

    const stopped = await vdi(["stop", "cli-1"], env);
    expect([stopped.code, stopped.stdout]).toEqual([0, expect.stringMatching(/^Shutting down cli-1 \(operation [a-z0-9]+\)\n$/)]);
    expect((await api.db.vm.findUniqueOrThrow({ where: { id: vmId } })).desiredState).toBe("stopped");
    // A slow shutdown can be cut short: Power off overtakes the Shut down in flight.
    const poweredOff = await vdi(["poweroff", "cli-1"], env);
    expect([poweredOff.code, poweredOff.stdout, poweredOff.stderr]).toEqual([0, expect.stringMatching(/^Powering off cli-1 \(operation [a-z0-9]+\)\n$/), ""]);
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "stopped" }] });
    const deleted = await vdi(["delete", vmId], env);
    expect(deleted.code).toBe(0);
    expect((await api.db.vm.findUnique({ where: { id: vmId } }))?.desiredState ?? "deleted").toBe("deleted");
  });

  it("fails clearly: bad token, missing scope, unknown VM, server down, bad usage", async () => {
    const bad = await vdi(["vms"], { VDI_URL: server.url, VDI_TOKEN: `${readToken.slice(0, -1)}${readToken.endsWith("A") ? "B" : "A"}` });
    expect(bad).toMatchObject({ code: 1, stdout: "", stderr: "vdi: the portal refused the token: Unknown API token\n" });

    const scope = await vdi(["create", "nope-1"], { VDI_URL: server.url, VDI_TOKEN: readToken });
    expect(scope.code).toBe(1);
    expect(scope.stderr).toMatch(/^vdi: This API token lacks the "vm:write" scope that vm\.create needs\n$/);

    const unknown = await vdi(["start", "no-such-vm"], { VDI_URL: server.url, VDI_TOKEN: writeToken });
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringMatching(/^vdi: no VM named "no-such-vm"/) });

    const downUrl = `http://127.0.0.1:${await closedPort()}`;
    const down = await vdi(["vms"], { VDI_URL: downUrl, VDI_TOKEN: readToken });
    expect(down).toMatchObject({ code: 1, stderr: `vdi: cannot reach ${downUrl}: ECONNREFUSED\n` });

    const missing = await vdi(["vms"], { VDI_URL: server.url });
    expect(missing).toMatchObject({ code: 1, stderr: expect.stringMatching(/^vdi: no API token: set VDI_TOKEN/) });
    const usage = await vdi(["frobnicate"], { VDI_URL: server.url, VDI_TOKEN: readToken });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^vdi: unknown command "frobnicate"/);
    for (const r of [bad, scope, unknown, down, missing, usage]) noStack(r);
  });
});
