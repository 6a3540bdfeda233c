// The portal's console-token public key as a KeyObject, parsed again only when the PEM changes.
import { createPublicKey, type KeyObject } from "node:crypto";

export function portalKey(publicKeyPem: () => string | null): () => KeyObject | null {
  let cachedPem: string | null = null;
  let cachedKey: KeyObject | null = null;
  return () => {
    const pem = publicKeyPem();
    if (pem !== cachedPem) {
      cachedPem = pem;
      cachedKey = pem ? createPublicKey(pem) : null;
    }
    return cachedKey;
  };
}
