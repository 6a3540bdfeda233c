// An error that is not an AppError (here a real database failure: the VM table is gone) reaches an
// HTTP client as "Internal error", status 500, with no stack, no driver message, no table name.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, serveApi, type TestApi } from "./harness.ts";

describe("internal errors over HTTP", () => {
  let api: TestApi;
  let server: Awaited<ReturnType<typeof serveApi>>;
  let token: string;

  beforeAll(async () => {
    api = await openTestApi("sqlite");
    server = await serveApi(api.deps);
    const alice = await api.makeUser("acme");
    token = (await api.caller(alice).apiToken.create({ name: "script", scopes: ["vm:read"], expiresInDays: 1 })).token;
  });
  afterAll(async () => {
    await server?.close();
    await api?.close();
  });

  it("says only \"Internal error\" and ships no stack or internals", async () => {
    const get = () => fetch(`${server.url}/api/trpc/vm.list`, { headers: { authorization: `Bearer ${token}` } });
    expect((await get()).status).toBe(200);
    await api.db.$executeRawUnsafe('ALTER TABLE "Vm" RENAME TO "VmGoneForThisTest"');
    const res = await get();
    const raw = await res.text();
    expect(res.status).toBe(500);
    const body = JSON.parse(raw) as { error: { message: string; code: number; data: Record<string, unknown> } };
    expect(body.error.message).toBe("Internal error");
    expect(body.error.data).toEqual({ code: "INTERNAL_SERVER_ERROR", httpStatus: 500, appCode: null, fieldErrors: null });
    expect(raw).not.toMatch(/stack|\bat \S+:\d+|prisma|sqlite|no such table|\bVm\b|\.ts\b/i);
  });
});
