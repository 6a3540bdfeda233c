// A small PNG encoder (8-bit RGB, no filtering): enough for screen thumbnails, no dependency.
import * as zlib from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOUR_TYPE_RGB = 2;

/** CRC-32 (ISO 3309, as PNG uses); node:zlib has it from Node 20.15, older runtimes use a table. */
export function crc32(bytes: Buffer): number {
  const native = (zlib as { crc32?: (data: Buffer) => number }).crc32;
  return native ? native(bytes) >>> 0 : crc32Table(bytes);
}

let table: Uint32Array | null = null;
export function crc32Table(bytes: Buffer): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = table[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Encodes width × height RGBA pixels as an RGB PNG (framebuffers have no alpha worth keeping). */
export function encodePng(width: number, height: number, rgba: Buffer): Buffer {
  if (rgba.length !== width * height * 4) throw new RangeError(`expected ${width * height * 4} bytes of RGBA, got ${rgba.length}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;                 // bit depth
  ihdr[9] = COLOUR_TYPE_RGB;
  // compression 0, filter method 0, interlace 0
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);  // each row: filter type 0 (None), then pixels
  for (let y = 0; y < height; y++) {
    for (let x = 0, s = y * width * 4, d = y * stride + 1; x < width; x++, s += 4, d += 3) {
      raw[d] = rgba[s]!;
      raw[d + 1] = rgba[s + 1]!;
      raw[d + 2] = rgba[s + 2]!;
    }
  }
  return Buffer.concat([SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}
