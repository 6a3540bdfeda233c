// The tRPC HTTP endpoint (queries, mutations, SSE subscriptions). Mutations a browser sends from
// another site are refused before they reach the API (server/csrf.ts), bodies over 1 MiB with 413
// (server/body-limit.ts); more than 10 procedures, a long URL or deeply nested input at once, and
// a caller's 17th request in flight after a short wait (server/request-limits.ts); the API sees
// the client address the portal believes (server/client-ip.ts).
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter, createContext } from "@vdi/api";
import { deps } from "@/server/deps";
import { crossSiteRefusal } from "@/server/csrf";
import { withBodyLimit } from "@/server/body-limit";
import { portalRequest } from "@/server/client-ip";
import { MAX_BATCH_PROCEDURES, callerKey, inFlightLimit, tooManyInFlight, trpcBodyRefusal, trpcRequestRefusal } from "@/server/request-limits";
import { env } from "@/env";
import { CLIENT_IP_HEADER } from "@vdi/api/client-ip";

export const dynamic = "force-dynamic";

const handler = async (incoming: Request) => {
  const tooMuch = trpcRequestRefusal(incoming);
  if (tooMuch) return tooMuch;
  const refused = crossSiteRefusal(incoming, env().VDI_PUBLIC_URL);
  if (refused) {
    return Response.json({ error: { message: refused, code: -32003, data: { code: "FORBIDDEN", httpStatus: 403 } } }, { status: 403 });
  }
  const req = portalRequest(incoming);
  const limit = inFlightLimit();
  const release = await limit.acquire(callerKey(req.headers, req.headers.get(CLIENT_IP_HEADER)));
  if (!release) return tooManyInFlight(limit.opts.perCaller);
  try {
    const capped = await withBodyLimit(req);
    if (capped instanceof Response) return capped;
    if (capped.body) {
      const nested = trpcBodyRefusal(await capped.clone().text());
      if (nested) return nested;
    }
    return await fetchRequestHandler({
      endpoint: "/api/trpc",
      req: capped,
      router: appRouter,
      maxBatchSize: MAX_BATCH_PROCEDURES,
      createContext: ({ resHeaders }) => createContext(deps(), { headers: capped.headers, resHeaders }),
      onError({ error, path }) {
        if (error.code === "INTERNAL_SERVER_ERROR") console.error(`tRPC ${path}:`, error.cause ?? error);
      },
    });
  } finally {
    // Held until the answer is made (an event stream's answer is made at once: subscriptions hold no slot).
    release();
  }
};

export { handler as GET, handler as POST };
