// The tRPC HTTP endpoint (queries, mutations, SSE subscriptions). Mutations a browser sends from
// another site are refused before they reach the API (server/csrf.ts), bodies over 1 MiB with 413
// (server/body-limit.ts); the API sees the client address the portal believes (server/client-ip.ts).
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter, createContext } from "@vdi/api";
import { deps } from "@/server/deps";
import { crossSiteRefusal } from "@/server/csrf";
import { withBodyLimit } from "@/server/body-limit";
import { portalRequest } from "@/server/client-ip";
import { env } from "@/env";

export const dynamic = "force-dynamic";

const handler = async (incoming: Request) => {
  const refused = crossSiteRefusal(incoming, env().VDI_PUBLIC_URL);
  if (refused) {
    return Response.json({ error: { message: refused, code: -32003, data: { code: "FORBIDDEN", httpStatus: 403 } } }, { status: 403 });
  }
  const capped = await withBodyLimit(incoming);
  if (capped instanceof Response) return capped;
  const req = portalRequest(capped);
  return fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: ({ resHeaders }) => createContext(deps(), { headers: req.headers, resHeaders }),
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`tRPC ${path}:`, error.cause ?? error);
    },
  });
};

export { handler as GET, handler as POST };
