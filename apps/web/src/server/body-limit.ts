// Caps how much a client may send to the tRPC endpoint: no procedure takes more than a few KiB, and
// without a cap a single request could make the portal buffer any amount while parsing it.
export const MAX_TRPC_BODY_BYTES = 1024 * 1024;

function tooLarge(maxBytes: number): Response {
  const message = `Request body too large (at most ${maxBytes} bytes)`;
  return Response.json({ error: { message, code: -32600, data: { code: "PAYLOAD_TOO_LARGE", httpStatus: 413 } } }, { status: 413 });
}

/**
 * The request with its body read into memory, or a 413 answer. Content-Length is checked first
 * (a refusal before anything is read), then the bytes as they stream in: the header may be absent
 * (chunked) or lie.
 */
export async function withBodyLimit(req: Request, maxBytes = MAX_TRPC_BODY_BYTES): Promise<Request | Response> {
  if (!req.body) return req;
  const declared = req.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= maxBytes)) {
    await req.body.cancel().catch(() => undefined);
    return tooLarge(maxBytes);
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { body.set(c, at); at += c.byteLength; }
  const headers = new Headers(req.headers);
  headers.delete("content-length");
  return new Request(req.url, { method: req.method, headers, body, signal: req.signal });
}
