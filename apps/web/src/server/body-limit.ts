// Caps how much a client may send to the tRPC endpoint: no procedure takes more than a few KiB, and
// without a cap a single request could make the portal buffer any amount while parsing it.
import { BodyTooLarge, readCapped } from "@vdi/api/read-capped";

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
  let body: Buffer;
  try {
    body = await readCapped(req.body, req.headers.get("content-length"), maxBytes);
  } catch (e) {
    if (e instanceof BodyTooLarge) return tooLarge(maxBytes);
    throw e;
  }
  const headers = new Headers(req.headers);
  headers.delete("content-length");
  return new Request(req.url, { method: req.method, headers, body: Uint8Array.from(body), signal: req.signal });
}
