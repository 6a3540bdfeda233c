// From inside a real guest (QEMU, user networking, the template asks for outbound access): the
// host's loopback services (the node agent, the portal, PostgreSQL) and a service on every host
// address are out of reach, and outbound HTTP to an address outside the host (a server in a network
// namespace of the test's own, on a TEST-NET address) works, through the node's egress namespace.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { egressNames } from "../src/network/guest-egress.ts";
import { IMAGES, agentFixture, guestDriver, qemuSkipReason, startAgent, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "debian-shell", "template.json");
const NS = `vdi-egress-${process.pid}`;
const VETH = `vdieg${process.pid % 100000}`;
const OUTSIDE = "203.0.113.10";  // RFC 5737 TEST-NET-3: inside the namespace only

function sh(cmd: string): boolean {
  return spawnSync("sh", ["-c", cmd], { stdio: "ignore" }).status === 0;
}
const netnsReason = (): string | null => {
  if (process.getuid?.() !== 0) return "network namespaces need root";
  if (!sh(`ip netns add ${NS}-probe && ip netns del ${NS}-probe`)) return "ip netns does not work here";
  return null;
};
const skipReason = qemuSkipReason(TEMPLATE) ?? netnsReason();
if (skipReason) console.warn(`[skip] guest network isolation: ${skipReason}`);

const reachable = (port: number, host = "127.0.0.1") => new Promise<boolean>((resolve) => {
  const s = connect(port, host, () => { s.destroy(); resolve(true); });
  s.on("error", () => resolve(false));
});

describe.skipIf(skipReason !== null)("guest network isolation (QEMU user networking)", () => {
  const f = agentFixture(TEMPLATE, "vdi-guestnet-");
  let outside: ChildProcess | null = null;

  beforeAll(async () => {
    // "The outside": a web server in a namespace of its own, reached from the host over a veth.
    expect(sh(`ip netns add ${NS} && ip link add ${VETH}a type veth peer name ${VETH}b && ip link set ${VETH}b netns ${NS}`
      + ` && ip addr add 203.0.113.1/24 dev ${VETH}a && ip link set ${VETH}a up`
      + ` && ip netns exec ${NS} ip addr add ${OUTSIDE}/24 dev ${VETH}b && ip netns exec ${NS} ip link set ${VETH}b up && ip netns exec ${NS} ip link set lo up`)).toBe(true);
    outside = spawn("ip", ["netns", "exec", NS, process.execPath, "-e",
      `require("http").createServer((q, r) => r.end("OUTSIDE-" + "OK\\n")).listen(8080, "${OUTSIDE}")`], { stdio: "ignore" });
    await until("outside server", () => reachable(8080, OUTSIDE), 10_000);
  });
  afterAll(() => {
    outside?.kill("SIGKILL");
    sh(`ip link del ${VETH}a; ip netns del ${NS}`);
  });

  it("reaches no host service from the guest (loopback or any host address), and the outside through the node's egress namespace", async () => {
    const { api, server, alice, templateId, dataDir } = f;
    const c = api.caller(alice);
    const g = guestDriver(c, dataDir);
    f.agent = startAgent(server.url, dataDir);
    await until("node up", async () => (await c.node.list()).find((n) => n.up && n.engines.qemu?.available));
    const { vmId, operationId } = await c.vm.create({ templateId, name: "net-1" });
    await g.opDone(operationId);
    await g.ready(vmId, "net-1");
    const nodePort = Number(new URL((await c.console.open({ vmId })).url).port);
    const portalPort = Number(new URL(server.url).port);
    // A service on every host address (0.0.0.0): the host's side of the egress veth and of the
    // test's veth are host addresses too.
    const anywhere = createServer((s) => { s.on("error", () => undefined); s.end("HOST-SERVICE\n"); });
    await new Promise<void>((r) => anywhere.listen(0, "0.0.0.0", r));
    const anyPort = (anywhere.address() as { port: number }).port;
    try {
      const targets: [string, string, number][] = [["NODE", "10.0.2.2", nodePort], ["PORTAL", "10.0.2.2", portalPort], ["ANY", "10.0.2.2", anyPort],
        ["VETH", egressNames(dataDir).hostAddr, anyPort], ["HOSTADDR", "203.0.113.1", anyPort]];
      if (await reachable(5432)) targets.push(["PG", "10.0.2.2", 5432]);
      for (const [name, host, port] of targets) {
        if (host === "10.0.2.2") expect(await reachable(port)).toBe(true);  // it is there, on the host
        await g.say(vmId, `(nc -w 3 ${host} ${port} </dev/null && echo ${name}-REACHED || echo ${name}-BLOCKED)`, `${name}-`);
        expect(g.serial(vmId)).toContain(`${name}-BLOCKED`);
        expect(g.serial(vmId)).not.toContain(`${name}-REACHED`);
      }
      expect(g.serial(vmId)).not.toContain("HOST-SERVICE");
      // The outside, yes.
      await g.say(vmId, `(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${OUTSIDE} 8080; echo OUT-DONE)`, "OUT-DONE");
      expect(g.serial(vmId)).toContain("OUTSIDE-OK");
    } finally {
      anywhere.close();
    }
  }, 240_000);
});
