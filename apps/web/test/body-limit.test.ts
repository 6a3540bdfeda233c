// The tRPC endpoint's body cap: a declared or streamed body over the limit is answered 413 without
// being buffered; one within it reaches the handler unchanged.
import { describe, it, expect } from "vitest";
import { withBodyLimit, MAX_TRPC_BODY_BYTES } from "../src/server/body-limit.ts";

const URL_ = "http://localhost:3000/api/trpc/vm.create";

/** A chunked body (no Content-Length) of `chunks` × `size` bytes; counts how many chunks were pulled. */
function streamed(chunks: number, size: number) {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled === chunks) return c.close();
      pulled++;
      c.enqueue(new Uint8Array(size).fill(0x61));
    },
  });
  const req = new Request(URL_, { method: "POST", body, duplex: "half" } as RequestInit & { duplex: "half" });
  return { req, pulled: () => pulled };
}

describe("withBodyLimit", () => {
  it("refuses a declared Content-Length over 1 MiB with 413 and a clear message", async () => {
    const req = new Request(URL_, { method: "POST", headers: { "content-length": String(MAX_TRPC_BODY_BYTES + 1) }, body: "x" });
    const res = await withBodyLimit(req);
    expect(res).toBeInstanceOf(Response);
    expect((res as Response).status).toBe(413);
    expect(await (res as Response).json()).toMatchObject({ error: { message: "Request body too large (at most 1048576 bytes)", data: { httpStatus: 413 } } });
  });

  it("refuses a streamed body once it passes the cap, without reading the rest", async () => {
    const { req, pulled } = streamed(64, 64 * 1024);  // 4 MiB offered
    const res = await withBodyLimit(req);
    expect((res as Response).status).toBe(413);
    expect(pulled()).toBeLessThanOrEqual(18);  // 1 MiB is 16 chunks, plus what the stream buffers ahead
  });

  it("refuses a Content-Length that lies low", async () => {
    const big = "x".repeat(MAX_TRPC_BODY_BYTES + 10);
    const { req } = { req: new Request(URL_, { method: "POST", body: new Blob([big]).stream(), duplex: "half", headers: { "content-length": "10" } } as RequestInit & { duplex: "half" }) };
    expect(((await withBodyLimit(req)) as Response).status).toBe(413);
  });

  it("passes a body within the cap through unchanged, and requests without one as they are", async () => {
    const json = JSON.stringify({ name: "web-1", templateId: "t".repeat(20) });
    const out = await withBodyLimit(new Request(URL_, { method: "POST", headers: { "content-type": "application/json", cookie: "a=b" }, body: json }));
    expect(out).toBeInstanceOf(Request);
    expect(await (out as Request).text()).toBe(json);
    expect((out as Request).headers.get("cookie")).toBe("a=b");
    const exact = await withBodyLimit(streamed(16, 64 * 1024).req);
    expect(((await (exact as Request).arrayBuffer()).byteLength)).toBe(MAX_TRPC_BODY_BYTES);
    const get = new Request(`${URL_}?input=%7B%7D`);
    expect(await withBodyLimit(get)).toBe(get);
  });
});
