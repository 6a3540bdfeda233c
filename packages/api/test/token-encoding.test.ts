// Token signatures are decoded strictly: base64url without padding, every character meaningful.
// Node's decoder ignores what it cannot read ("==", a stray "." or space), so a console token
// with junk appended to its signature used to verify.
import { describe, it, expect } from "vitest";
import { createConsoleSigner, generateConsoleKeyPem } from "../src/index.ts";
import { verifyConsoleToken } from "@vdi/node-protocol/capability-token";
import { decodeBase64url } from "@vdi/node-protocol/base64url";

describe("console token signatures", () => {
  const signer = createConsoleSigner(generateConsoleKeyPem());
  const { token } = signer.sign({ vm: "vm1", node: "n1", user: "u1", proto: "vnc" });

  it("verifies the token as issued, and refuses it with anything appended to or changed in its signature", () => {
    expect(verifyConsoleToken(token, signer.publicKeyPem).ok).toBe(true);
    for (const junk of ["==", "=", " ", "%", "A"]) {
      expect(verifyConsoleToken(`${token}${junk}`, signer.publicKeyPem), junk).toMatchObject({ ok: false });
    }
    // The claims part too.
    const [body, sig] = token.split(".");
    expect(verifyConsoleToken(`${body}==.${sig}`, signer.publicKeyPem)).toMatchObject({ ok: false });
  });

  it("decodes only canonical base64url", () => {
    expect(decodeBase64url("aGk")?.toString()).toBe("hi");
    for (const bad of ["aGk=", "aGk==", "aG+k", "aG/k", "aGl", "a", "aGk ", ""]) expect(decodeBase64url(bad), bad).toBeNull();
  });
});
