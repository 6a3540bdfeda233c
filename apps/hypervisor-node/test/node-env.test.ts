// The node agent's console Origin allow-list: the portal's origin unless configured, any origin only
// when asked for with "*", and nothing that is not an origin.
import { describe, it, expect } from "vitest";
import { loadEnv } from "../src/env.ts";

const base = { VDI_NODE_JOIN_TOKEN: "test-join-token-0123456789", VDI_PORTAL_URL: "https://portal.example:8443/some/path" };

describe("VDI_NODE_ALLOWED_ORIGINS", () => {
  it("defaults to the origin of the portal the node joins", () => {
    expect(loadEnv(base).allowedOrigins).toEqual(["https://portal.example:8443"]);
    expect(loadEnv({ ...base, VDI_NODE_ALLOWED_ORIGINS: " " }).allowedOrigins).toEqual(["https://portal.example:8443"]);
  });
  it("takes a list of origins", () => {
    expect(loadEnv({ ...base, VDI_NODE_ALLOWED_ORIGINS: "https://vdi.example, http://localhost:3000/" }).allowedOrigins).toEqual(["https://vdi.example", "http://localhost:3000"]);
  });
  it("turns the check off only for an explicit *", () => {
    expect(loadEnv({ ...base, VDI_NODE_ALLOWED_ORIGINS: "*" }).allowedOrigins).toBe("any");
    expect(() => loadEnv({ ...base, VDI_NODE_ALLOWED_ORIGINS: "*,https://vdi.example" })).toThrow(/either \* or a list/);
  });
  it("refuses what is not an origin", () => {
    for (const bad of ["vdi.example", "https://vdi.example/portal", "null"]) {
      expect(() => loadEnv({ ...base, VDI_NODE_ALLOWED_ORIGINS: bad })).toThrow(/is not an origin/);
    }
  });
});
