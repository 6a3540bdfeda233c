// GET /api/vms/<id>/thumbnail: a recent PNG of the VM's screen, fetched from its node by the portal.
import { createContext, fetchVmThumbnail, hasScope, isAppError, THUMBNAIL_SCOPE, type AppErrorCode } from "@vdi/api";
import { deps } from "@/server/deps";
import { portalRequest } from "@/server/client-ip";

export const dynamic = "force-dynamic";

const STATUS: Partial<Record<AppErrorCode, number>> = { NOT_FOUND: 404, INVALID_STATE: 409, NODE_UNAVAILABLE: 503 };

function refuse(status: number, message: string): Response {
  return new Response(message, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}

export async function GET(req: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  // The same context as the tRPC endpoint, so the session rules are identical.
  const { actor, ...ctx } = await createContext(deps(), { headers: portalRequest(req).headers, resHeaders: new Headers() });
  if (!actor) return refuse(401, ctx.authError ?? "Sign in to see VM screens");
  // A screen shows what the console shows: API tokens need that scope.
  if (!hasScope(actor.scopes, THUMBNAIL_SCOPE)) return refuse(403, `This API token lacks the "${THUMBNAIL_SCOPE}" scope`);
  const { id } = await params;
  try {
    const { png, at } = await fetchVmThumbnail(ctx, actor, id);
    return new Response(new Uint8Array(png), {
      headers: { "content-type": "image/png", "cache-control": "private, max-age=2", "x-thumbnail-at": String(at) },
    });
  } catch (err) {
    if (isAppError(err)) return refuse(STATUS[err.code] ?? 500, err.message);
    console.error(`thumbnail of ${id}:`, err);
    return refuse(500, "Internal error");
  }
}
