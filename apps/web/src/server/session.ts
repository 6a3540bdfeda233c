// The signed-in user for server components, or a redirect to the login page.
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { deps } from "./deps";

export async function requireUser() {
  const session = await deps().auth.api.getSession({ headers: await headers() });
  if (!session) redirect("/login");
  return session.user;
}
