// Better Auth's own endpoints (sessions, and OIDC providers when configured), each request stamped
// with the client address the portal believes (server/client-ip.ts) for Better Auth's rate limits.
import { toNextJsHandler } from "better-auth/next-js";
import { deps } from "@/server/deps";
import { portalRequest } from "@/server/client-ip";

export const dynamic = "force-dynamic";
export const GET = (req: Request) => toNextJsHandler(deps().auth).GET(portalRequest(req));
export const POST = (req: Request) => toNextJsHandler(deps().auth).POST(portalRequest(req));
