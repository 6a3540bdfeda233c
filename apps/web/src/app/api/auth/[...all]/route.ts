// Better Auth's own endpoints (sessions, and OIDC providers when configured).
import { toNextJsHandler } from "better-auth/next-js";
import { deps } from "@/server/deps";

export const dynamic = "force-dynamic";
export const GET = (req: Request) => toNextJsHandler(deps().auth).GET(req);
export const POST = (req: Request) => toNextJsHandler(deps().auth).POST(req);
