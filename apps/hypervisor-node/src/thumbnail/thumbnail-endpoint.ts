// GET /thumbnail?token=…: a PNG of a VM's screen for a portal-signed "thumb" token. Thumbnail
// tokens are read-only and short-lived, so unlike console tokens they may be used more than once.
import type { IncomingMessage, ServerResponse } from "node:http";
import { verifyConsoleToken } from "@vdi/node-protocol/capability-token";
import { portalKey } from "../lib/portal-key.ts";
import type { RfbFrame } from "./rfb-snapshot.ts";
import { createThumbnailCache, ThumbnailBusyError } from "./thumbnail.ts";

export interface ThumbnailEndpointOptions {
  nodeId: () => string | null;
  publicKeyPem: () => string | null;
  displayOf: (vmId: string) => string | null;
  log: (msg: string) => void;
  grab?: (socketPath: string) => Promise<RfbFrame>;
}

export function createThumbnailEndpoint(opts: ThumbnailEndpointOptions) {
  const key = portalKey(opts.publicKeyPem);
  const cache = createThumbnailCache({ displayOf: opts.displayOf, grab: opts.grab });

  function refuse(res: ServerResponse, status: number, reason: string) {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end(reason);
  }

  return {
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      if (req.method !== "GET") return refuse(res, 405, "GET only");
      const pub = key();
      const nodeId = opts.nodeId();
      if (!pub || !nodeId) return refuse(res, 503, "node not registered yet");
      const v = verifyConsoleToken(new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? "", pub);
      if (!v.ok) return refuse(res, 401, `invalid token: ${v.reason}`);
      if (v.claims.proto !== "thumb") return refuse(res, 401, "not a thumbnail token");
      if (v.claims.node !== nodeId) return refuse(res, 401, "token is for another node");
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
