// Reads a request's or response's body into memory, refusing past a size: the declared
// Content-Length first (nothing read), then the bytes as they stream in (the header may be absent or lie).

export class BodyTooLarge extends Error {
  constructor(readonly maxBytes: number) { super(`body larger than ${maxBytes} bytes`); }
}

export async function readCapped(body: ReadableStream<Uint8Array> | null, declaredLength: string | null, maxBytes: number): Promise<Buffer> {
  if (declaredLength !== null && !(Number(declaredLength) <= maxBytes)) {
    await body?.cancel().catch(() => undefined);
    throw new BodyTooLarge(maxBytes);
  }
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLarge(maxBytes);
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}
