// A node is not declared down for a gap the portal caused itself: the portal measures how long its
// own event loop stood still, and a heartbeat's silence counts without that time.
import { describe, it, expect } from "vitest";
import { isNodeUp, noteNodeHeard } from "../src/services/node/node-health.ts";
import { startPortalLagClock, stalledMsSince } from "../src/lib/portal-lag.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("node health against the portal's own lag", () => {
  it("measures the time this process's event loop was blocked, and nothing while it keeps up", async () => {
    startPortalLagClock();
    await sleep(600);
    const idleFrom = Date.now();
    await sleep(600);
    expect(stalledMsSince(idleFrom)).toBeLessThan(100);
    const t0 = Date.now();
    const until = t0 + 1_500;
    while (Date.now() < until) { /* the portal busy: a long synchronous query, a huge JSON answer */ }
    await sleep(400);
    const stalled = stalledMsSince(t0);
    expect(stalled).toBeGreaterThan(1_000);
    expect(stalled).toBeLessThanOrEqual(Date.now() - t0);
  });

  it("keeps a node up whose silence is the portal's stall, and marks it down when the silence is its own", () => {
    const now = 1_000_000;
    const node = { lastSeenAt: new Date(now - 30_000) };
    expect(isNodeUp(node, 15_000, now, () => 0)).toBe(false);
    expect(isNodeUp(node, 15_000, now, () => 20_000)).toBe(true);   // 30 s quiet, 20 s of it ours: 10 s
    expect(isNodeUp(node, 15_000, now, () => 10_000)).toBe(false);  // 20 s of its own silence
    expect(isNodeUp({ lastSeenAt: new Date(now - 5_000) }, 15_000, now, () => 0)).toBe(true);
    expect(isNodeUp({ lastSeenAt: null }, 15_000, now, () => 1e9)).toBe(false);
  });

  it("counts a node request as heard while it is in flight, and only the row once it is done", () => {
    const now = Date.now();
    const node = { id: "node-in-flight", lastSeenAt: new Date(now - 60_000) };
    expect(isNodeUp(node, 15_000, now, () => 0)).toBe(false);
    const first = noteNodeHeard(node.id, now - 1_000);    // a heartbeat queued behind user writes
    const second = noteNodeHeard(node.id, now - 500);
    expect(isNodeUp(node, 15_000, now, () => 0)).toBe(true);
    second();
    expect(isNodeUp(node, 15_000, now, () => 0)).toBe(true); // the first is still waiting
    first();
    first();                                                 // twice is once
    // Done: an old row is the node's last word again (a request that finished is no heartbeat).
    expect(isNodeUp(node, 15_000, now, () => 0)).toBe(false);
    expect(isNodeUp({ ...node, id: "another" }, 15_000, now, () => 0)).toBe(false);
  });
});
