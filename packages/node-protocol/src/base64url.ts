// Strict base64url (RFC 4648 §5, no padding) for tokens and signatures. Node's own decoder skips
// characters it cannot read and ignores "=", so "sig==" and "sig" decode alike: a token with junk
// appended would still verify. Here the text must be exactly what encoding its bytes gives.

const ALPHABET = /^[A-Za-z0-9_-]+$/;

/** The bytes `text` encodes, or null when it is not canonical unpadded base64url. */
export function decodeBase64url(text: string): Buffer | null {
  if (!ALPHABET.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, "base64url");
  // Unused low bits of the last character must be zero (one spelling per byte string).
  return bytes.toString("base64url") === text ? bytes : null;
}
