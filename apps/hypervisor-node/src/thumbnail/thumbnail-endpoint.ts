// GET /thumbnail?token=…: a PNG of a VM's screen for a portal-signed "thumb" token. Thumbnail
// tokens are read-only and short-lived, so unlike console tokens they may be used more than once.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Admission, Refusal } from "../gateway/admission.ts";
import type { RfbFrame } from "../rfb/rfb-snapshot.ts";
import { createThumbnailCache, ThumbnailBusyError } from "./thumbnail.ts";

export interface ThumbnailEndpointOptions {
  /** The node's one admission, shared with the console gateway (revoked users, access table). */
  admission: Admission;
  displayOf: (vmId: string) => string | null;
  log: (msg: string) => void;
  grab?: (socketPath: string) => Promise<RfbFrame>;
}

/** What each admission refusal answers over HTTP. */
const REFUSAL_STATUS: Record<Refusal, number> = {
  "not-ready": 503,
  "bad-token": 401,
  "wrong-protocol": 401,
  "wrong-target": 401,
  revoked: 403,
  forbidden: 403,
  "access-unknown": 503,
  replayed: 401,
  "session-ended": 403,
};

export function createThumbnailEndpoint(opts: ThumbnailEndpointOptions) {
  const cache = createThumbnailCache({ displayOf: opts.displayOf, grab: opts.grab });

  function refuse(res: ServerResponse, status: number, reason: string) {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end(reason);
  }

  return {
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      if (req.method !== "GET") return refuse(res, 405, "GET only");
      const v = await opts.admission.admit(new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? "", "thumb");
      if (!v.ok) return refuse(res, REFUSAL_STATUS[v.refusal], v.reason);
      try {
        const thumb = await cache.get(v.claims.vm);
        if (!thumb) return refuse(res, 404, "VM is not running on this node");
        res.writeHead(200, {
          "content-type": "image/png",
          "content-length": thumb.png.length,
          "cache-control": "no-store",
          "x-thumbnail-at": String(thumb.at),
        }).end(thumb.png);
      } catch (err) {
        if (err instanceof ThumbnailBusyError) return refuse(res, 503, err.message);
        opts.log(`thumbnail of ${v.claims.vm} failed: ${(err as Error).message}`);
        refuse(res, 502, "could not read the VM's display");
      }
    },
  };
}
