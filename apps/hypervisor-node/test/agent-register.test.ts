// A real agent process re-joining a real API: after a restart it keeps its node (and VMs) with its
// saved credentials, also when they were saved for another portal URL; a second agent that only
// has the join token cannot take the name over, and says why; a second host joins with a one-time
// join token, restarts on its own credentials, and its spent token joins nothing else.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { openPortal, startAgent, until } from "./helpers.ts";

const NO_QEMU = { VDI_QEMU_BINARY: "/nonexistent/qemu-system-x86_64", VDI_NODE_NAME: "rejoin" };

describe("node agent registration", () => {
  let dir: string;
  let portal: Awaited<ReturnType<typeof openPortal>>;
  const agents: ChildProcess[] = [];
  const start = (dataDir: string) => {
    const child = startAgent(portal.server.url, dataDir, NO_QEMU);
    agents.push(child);
    const out: string[] = [];
    child.stdout!.on("data", (d: Buffer) => out.push(d.toString()));
    return { child, log: () => out.join("") };
  };
  const stop = async (child: ChildProcess) => {
    child.kill("SIGKILL");
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vdi-rejoin-"));
    const template = join(dir, "template.json");
    writeFileSync(template, JSON.stringify({ name: "debian-shell", title: "Debian shell", engine: "qemu", defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 }));
    portal = await openPortal(template);
  });
  afterAll(async () => {
    for (const a of agents) a.kill("SIGKILL");
    await portal?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps its node across restarts, also with credentials saved for another URL of the same portal; never shows them to another origin; an impostor with the join token gets CONFLICT", async () => {
    const dataDir = join(dir, "node");
    const first = start(dataDir);
    const file = join(dataDir, "credentials.json");
    await until("credentials saved", () => existsSync(file));
    const node = await portal.api.db.node.findUniqueOrThrow({ where: { name: "rejoin" } });
    await stop(first.child);

    // Saved for another origin: the agent does not hand that portal's secret to this one, so it
    // joins with the join token only, and the name is taken: refused, its saved file untouched.
    const saved = JSON.parse(readFileSync(file, "utf8")) as { nodeId: string; secret: string; portalUrl: string };
    const foreign = JSON.stringify({ ...saved, portalUrl: "http://portal.old.example:3000" });
    writeFileSync(file, foreign);
    const elsewhere = start(dataDir);
    await until("refused without the foreign secret", () => elsewhere.log().includes('A node named "rejoin" is already registered'), 30_000);
    expect(readFileSync(file, "utf8")).toBe(foreign);
    await stop(elsewhere.child);

    // The same portal under another URL of the same origin: the agent registers again, and may,
    // because it presents the credentials the portal gave it.
    writeFileSync(file, JSON.stringify({ ...saved, portalUrl: `${portal.server.url}/old/` }));
    const second = start(dataDir);
    await until("registered again", () => JSON.parse(readFileSync(file, "utf8")).portalUrl === portal.server.url);
    const now = JSON.parse(readFileSync(file, "utf8")) as typeof saved;
    expect(now.nodeId).toBe(node.id);
    expect(now.secret).not.toBe(saved.secret);
    expect(second.log()).toContain(`registered as ${node.id}`);

    // Another agent with only the join token and the same name: refused, and it says so.
    const impostor = start(join(dir, "impostor"));
    await until("impostor refused", () => impostor.log().includes('A node named "rejoin" is already registered'), 30_000);
    expect(await portal.api.db.node.count({ where: { name: "rejoin" } })).toBe(1);
    expect((await portal.api.db.node.findUniqueOrThrow({ where: { name: "rejoin" } })).id).toBe(node.id);
    await stop(impostor.child);
    // The real node still syncs with its credentials.
    const lastSeen = async () => (await portal.api.db.node.findUniqueOrThrow({ where: { id: node.id } })).lastSeenAt?.getTime() ?? 0;
    const seen = await lastSeen();
    await until("still syncing", async () => (await lastSeen()) > seen, 20_000);
    await stop(second.child);
  });

  it("joins a second host with a one-time join token made by a platform admin; it restarts on its own credentials, and the spent token joins nothing else", async () => {
    const root = await portal.api.makeUser("platform", "admin");
    const made = await portal.api.caller(root).node.createJoinToken({ note: "host b" });
    const hostB = join(dir, "host-b");
    const b = startAgent(portal.server.url, hostB, { ...NO_QEMU, VDI_NODE_NAME: "host-b", VDI_NODE_JOIN_TOKEN: made.token });
    agents.push(b);
    await until("host b joined", async () => (await portal.api.db.node.findUnique({ where: { name: "host-b" } })) !== null, 30_000);
    const node = await portal.api.db.node.findUniqueOrThrow({ where: { name: "host-b" } });
    expect((await portal.api.caller(root).node.joinTokens()).find((t) => t.joinTokenId === made.joinTokenId)).toMatchObject({ state: "used", usedByNodeId: node.id });
    await until("host b credentials saved", () => existsSync(join(hostB, "credentials.json")));
    await stop(b);
    // Restarted with the same (now spent) token in its environment: its saved credentials carry it.
    const again = startAgent(portal.server.url, hostB, { ...NO_QEMU, VDI_NODE_NAME: "host-b", VDI_NODE_JOIN_TOKEN: made.token });
    agents.push(again);
    const seen = (await portal.api.db.node.findUniqueOrThrow({ where: { id: node.id } })).lastSeenAt?.getTime() ?? 0;
    await until("host b syncing again", async () => ((await portal.api.db.node.findUniqueOrThrow({ where: { id: node.id } })).lastSeenAt?.getTime() ?? 0) > seen, 30_000);
    // Another host with the spent token is refused, and says why.
    const thief = startAgent(portal.server.url, join(dir, "host-c2"), { ...NO_QEMU, VDI_NODE_NAME: "host-c", VDI_NODE_JOIN_TOKEN: made.token });
    agents.push(thief);
    const out: string[] = [];
    thief.stdout!.on("data", (d: Buffer) => out.push(d.toString()));
    thief.stderr!.on("data", (d: Buffer) => out.push(d.toString()));
    await until("the spent token refused", () => out.join("").includes("Invalid join token"), 30_000);
    expect(await portal.api.db.node.count({ where: { name: "host-c" } })).toBe(0);
    await stop(thief);
    await stop(again);
  });
});
