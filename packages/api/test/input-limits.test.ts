// Every input has limits: walked from the router itself, every string a client can send has a
// maximum length checked before any transform, every array a maximum size, every record a bounded
// key and value. A procedure added later without limits fails here and is named. Then the limits
// the review found missing, through the API.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, type TestApi } from "./harness.ts";
import { appRouter, type Actor } from "../src/index.ts";

interface Def { type: string; checks?: Array<{ _zod: { def: { check: string } } }>; [k: string]: unknown }
type Schema = { _zod: { def: Def }; maxLength?: number | null };

const hasCheck = (def: Def, check: string) => (def.checks ?? []).some((c) => c._zod.def.check === check);

/** The unbounded places in `schema`, as paths ("code", "vms[]", "engines{}"). */
function unbounded(schema: Schema, at: string, out: string[]): void {
  const def = schema._zod.def;
  switch (def.type) {
    case "string":
      if (!hasCheck(def, "max_length") && !hasCheck(def, "length_equals")) out.push(at || "(input)");
      return;
    case "array":
      if (!hasCheck(def, "max_length") && !hasCheck(def, "length_equals")) out.push(`${at}[] (no max)`);
      return unbounded(def.element as Schema, `${at}[]`, out);
    case "object":
      for (const [k, v] of Object.entries(def.shape as Record<string, Schema>)) unbounded(v, at ? `${at}.${k}` : k, out);
      return;
    case "record":
      unbounded(def.keyType as Schema, `${at}{key}`, out);
      return unbounded(def.valueType as Schema, `${at}{}`, out);
    case "optional": case "nullable": case "default": case "prefault": case "readonly": case "nonoptional": case "catch":
      return unbounded(def.innerType as Schema, at, out);
    case "pipe":
      // What the client sends meets the input side first; a transform's output is ours.
      return unbounded(def.in as Schema, at, out);
    case "union":
      for (const o of def.options as Schema[]) unbounded(o, at, out);
      return;
    case "transform": case "custom": case "any": case "unknown":
      out.push(`${at || "(input)"} (${def.type}: cannot tell)`);
      return;
    default:
      return;  // numbers, booleans, enums, literals, dates: bounded by type (or by their own checks)
  }
}


describe("input limits", () => {
  it("bounds every string and array of every procedure's input", () => {
    const procedures = (appRouter._def as unknown as { procedures: Record<string, { _def: { inputs: Schema[] } }> }).procedures;
    const found: string[] = [];
    for (const [path, p] of Object.entries(procedures)) {
      for (const input of p._def.inputs) {
        const out: string[] = [];
        unbounded(input, "", out);
        found.push(...out.map((o) => `${path}: ${o}`));
      }
    }
    expect(found).toEqual([]);
  });
});

/** `depth` arrays inside each other: what a client can send in a few KiB of JSON. */
function deeplyNested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe("deeply nested input, to every procedure", () => {
  let api: TestApi;
  let platform: Actor;
  beforeAll(async () => {
    api = await openTestApi("sqlite");
    platform = await api.makeUser("nesting", "admin");
  });
  afterAll(async () => api?.close());

  const procedures = Object.entries((appRouter._def as unknown as { procedures: Record<string, unknown> }).procedures);

  it("is a 400 with a clear message, never a 500, for each caller, before any work", async () => {
    const found: string[] = [];
    for (const [path] of procedures) {
      for (const actor of [null, platform]) {
        const caller = api.caller(actor) as unknown as Record<string, Record<string, (i: unknown) => Promise<unknown>>>;
        const [ns, name] = path.split(".") as [string, string];
        // An extra key (stripped by zod, never seen by the service) and a field of its own.
        for (const input of [{ title: deeplyNested(20_000), name: "x" }, deeplyNested(20_000)]) {
          let got = "ok";
          try {
            const r = await caller[ns]![name]!(input);
            if (r && typeof r === "object" && Symbol.asyncIterator in r) await (r as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
          } catch (e) {
            got = e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
          }
          if (!/^BAD_REQUEST: Input is nested too deeply/.test(got)) found.push(`${path} as ${actor ? "admin" : "anonymous"}: ${got.slice(0, 120)}`);
        }
      }
    }
    expect(found).toEqual([]);
    // Refused before the procedure ran: no audit line claims a change, none is an internal error.
    const events = await api.db.auditEvent.findMany();
    expect(events.filter((e) => e.outcome === "ok")).toEqual([]);
  });
});

describe("limits the review found, through the API", () => {
  let api: TestApi;
  beforeAll(async () => { api = await openTestApi("sqlite"); });
  afterAll(async () => api?.close());

  async function outcome(p: Promise<unknown>): Promise<string> {
    try { await p; } catch (e) { return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
    return "ok";
  }

  it("refuses a huge TOTP or backup code before doing any work on it", async () => {
    const huge = " 1".repeat(200_000);
    expect(await outcome(api.caller(null).auth.verifyTotp({ code: huge }))).toMatch(/^BAD_REQUEST: code: Enter the 6 digits/);
    expect(await outcome(api.caller(null).auth.verifyBackupCode({ code: ` ${"a".repeat(100_000)} ` }))).toMatch(/^BAD_REQUEST: code: Enter a backup code/);
    // Within the cap, spaces people type still work their way to the format check.
    expect(await outcome(api.caller(null).auth.verifyTotp({ code: "12 34 5" }))).toMatch(/^BAD_REQUEST: code: Enter the 6 digits/);
  });

  it("refuses a node reporting more than 16 engines", async () => {
    const engines = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`e${i}`, { available: false }]));
    expect(await outcome(api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 1, totalMemoryMiB: 1, capabilities: { engines, images: [] } })))
      .toMatch(/^BAD_REQUEST: capabilities.engines: At most 16 engines/);
  });
});
