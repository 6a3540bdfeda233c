// The node's client of the wire contract: what the portal answers is checked against the contract,
// so a portal of another version, a proxy's error page or a refusal is a clear error on the node.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPortalClient, isUnauthorized, PortalCallError } from "../src/portal-client.ts";

let server: Server;
let url = "";
let answer: { status: number; body: string; type?: string } = { status: 200, body: "" };
const seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
      res.writeHead(answer.status, { "content-type": answer.type ?? "application/json" });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const desired = { vms: [], etag: "e1", desiredAt: 1, consolePublicKeyPem: "pem", revokedUsers: [], endedSeatSessions: [], serverTime: 2 };

describe("the node's portal client", () => {
  it("posts a mutation as tRPC's wire does and returns the answer checked against the contract", async () => {
    const c = createPortalClient(`${url}/`, () => "Bearer node.n1.s1");
    answer = { status: 200, body: JSON.stringify({ result: { data: desired } }) };
    expect(await c.call("sync", { vms: [], etag: null, waitMs: 0 })).toEqual(desired);
    expect(seen.at(-1)).toMatchObject({ method: "POST", url: "/api/trpc/nodeAgent.sync", auth: "Bearer node.n1.s1" });
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ vms: [], etag: null, waitMs: 0 });
    // A query goes as a GET.
    answer = { status: 200, body: JSON.stringify({ result: { data: { vms: [], tenants: [] } } }) };
    expect(await c.call("consoleAccess", undefined)).toEqual({ vms: [], tenants: [] });
    expect(seen.at(-1)).toMatchObject({ method: "GET", url: "/api/trpc/nodeAgent.consoleAccess" });
  });

  it("refuses an answer that does not match the contract, naming the field", async () => {
    const c = createPortalClient(url, () => null);
    answer = { status: 200, body: JSON.stringify({ result: { data: { ...desired, vms: [{ id: "v1", desiredState: "exploded" }] } } }) };
    const err = await c.call("sync", { vms: [], waitMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortalCallError);
    expect((err as PortalCallError).code).toBe("BAD_ANSWER");
    expect((err as Error).message).toMatch(/^nodeAgent\.sync: the portal's answer does not match the wire contract \(vms\.0\./);
    answer = { status: 502, body: "<html>Bad gateway</html>", type: "text/html" };
    await expect(c.call("sync", { vms: [], waitMs: 0 })).rejects.toThrow(/nodeAgent\.sync: the portal answered HTTP 502 with no JSON \(<html>Bad gateway/);
  });

  it("carries the portal's refusal: its code and message", async () => {
    const c = createPortalClient(url, () => null);
    answer = { status: 401, body: JSON.stringify({ error: { message: "Unknown node or wrong secret", code: -32001, data: { code: "UNAUTHORIZED", httpStatus: 401 } } }) };
    const err = await c.call("sync", { vms: [], waitMs: 0 }).catch((e: unknown) => e);
    expect(isUnauthorized(err)).toBe(true);
    expect((err as Error).message).toBe("Unknown node or wrong secret");
    answer = { status: 409, body: JSON.stringify({ error: { message: "A node named \"n1\" is already registered", data: { code: "CONFLICT" } } }) };
    const conflict = await c.call("register", { joinToken: "j", name: "n1", apiUrl: "http://a", consoleUrl: "ws://a", totalCpus: 1, totalMemoryMiB: 1, capabilities: { engines: {}, images: [] } }).catch((e: unknown) => e);
    expect(isUnauthorized(conflict)).toBe(false);
    expect(conflict).toMatchObject({ code: "CONFLICT", httpStatus: 409 });
  });
});
