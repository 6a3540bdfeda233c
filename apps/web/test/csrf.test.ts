// The tRPC endpoint's CSRF rule: cookie-carrying mutations from another site are refused; the
// portal's own pages, scripts with a bearer token, and requests without cookies pass.
import { describe, it, expect } from "vitest";
import { crossSiteRefusal } from "../src/server/csrf.ts";

const PUBLIC = "https://vdi.example";
const URL_ = "https://vdi.example/api/trpc/vm.delete";
const COOKIE = { cookie: "__Secure-vdi.session_token=abc.def" };

const verdict = (headers: Record<string, string>, method = "POST", url = URL_) =>
  crossSiteRefusal({ method, url, headers: new Headers(headers) }, PUBLIC);

describe("crossSiteRefusal", () => {
  it("refuses a cross-site or same-site POST carrying a cookie (fetch, XHR, or a form posting text/plain JSON)", () => {
    expect(verdict({ ...COOKIE, "sec-fetch-site": "cross-site", origin: "https://evil.example" })).toMatch(/^Cross-site request refused \(Sec-Fetch-Site: cross-site\)/);
    expect(verdict({ ...COOKIE, "sec-fetch-site": "same-site", origin: "https://blog.vdi.example" })).toMatch(/Sec-Fetch-Site: same-site/);
    expect(verdict({ ...COOKIE, "sec-fetch-site": "cross-site", "content-type": "text/plain" })).not.toBeNull();
    // An older browser with no Sec-Fetch-*: the Origin decides.
    expect(verdict({ ...COOKIE, origin: "https://evil.example" })).toBe("Cross-site request refused (Origin: https://evil.example)");
    expect(verdict({ ...COOKIE, origin: "null" })).toBe("Cross-site request refused (Origin: null)");
    // Any method that is not read-only.
    for (const m of ["PUT", "PATCH", "DELETE"]) expect(verdict({ ...COOKIE, "sec-fetch-site": "cross-site" }, m)).not.toBeNull();
  });

  it("lets the portal's own pages through, by Sec-Fetch-Site or by Origin", () => {
    expect(verdict({ ...COOKIE, "sec-fetch-site": "same-origin", origin: PUBLIC })).toBeNull();
    expect(verdict({ ...COOKIE, origin: PUBLIC })).toBeNull();
    // Reached under another name than VDI_PUBLIC_URL (e.g. 127.0.0.1): same origin as the request itself.
    expect(crossSiteRefusal({ method: "POST", url: "http://127.0.0.1:3000/api/trpc/vm.start", headers: new Headers({ ...COOKIE, origin: "http://127.0.0.1:3000" }) }, PUBLIC)).toBeNull();
  });

  it("lets reads, cookie-less requests, bearer-token scripts and non-browser clients through", () => {
    expect(verdict({ ...COOKIE, "sec-fetch-site": "cross-site" }, "GET")).toBeNull();
    expect(verdict({ ...COOKIE, "sec-fetch-site": "cross-site" }, "HEAD")).toBeNull();
    expect(verdict({ "sec-fetch-site": "cross-site", origin: "https://evil.example" })).toBeNull();
    expect(verdict({ ...COOKIE, authorization: "Bearer vdi_abc_def", origin: "https://ci.example" })).toBeNull();
    // A script with a cookie jar and no Origin (curl, Playwright's request API): not a browser.
    expect(verdict({ ...COOKIE })).toBeNull();
    // "Bearer" alone is no token.
    expect(verdict({ ...COOKIE, authorization: "Bearer ", "sec-fetch-site": "cross-site" })).not.toBeNull();
  });
});

describe("crossSiteRefusal and the request context agree on what a bearer token is", () => {
  it("lets through only an API token, which the context then uses instead of the cookie", () => {
    const cross = { ...COOKIE, "sec-fetch-site": "cross-site", origin: "https://evil.example" };
    // Not an API token: the context would fall back to the cookie, so the guard must check the request.
    for (const authorization of ["Bearer junk", "Bearer node.n1.abcdefghijklmnopqrstuvwxyz", "Bearer x"]) {
      expect(verdict({ ...cross, authorization }), authorization).toMatch(/^Cross-site request refused/);
    }
    expect(verdict({ ...cross, authorization: "Bearer vdi_0123456789ab_secret" })).toBeNull();
  });
});
