// The tRPC client the commands use, and the translation of its failures into one-line messages.
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "@vdi/api/client";

export type Portal = ReturnType<typeof connect>;

/** A failure the user can act on: printed as "vdi: <message>", exit status 1. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "CliError";
  }
}

export function connect(url: string, token: string) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url.replace(/\/+$/, "")}/api/trpc`, headers: { authorization: `Bearer ${token}` } })],
  });
}

export function codeOf(err: unknown): string | null {
  return err instanceof TRPCClientError ? ((err.data as { code?: string } | undefined)?.code ?? null) : null;
}

/** One readable line for any failure of a call: refused token, missing scope, server down, not the API. */
export function describeFailure(err: unknown, url: string): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof TRPCClientError) {
    const code = codeOf(err);
    if (code === "UNAUTHORIZED") return new CliError(`the portal refused the token: ${err.message}`);
    if (code) return new CliError(err.message);
    // fetch failures: TypeError("fetch failed") whose cause carries the system error (ECONNREFUSED, ENOTFOUND…).
    const cause = err.cause as (Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }) | undefined;
    const net = cause?.name === "TypeError" ? (cause.cause?.code ?? cause.cause?.errors?.[0]?.code ?? cause.cause?.message ?? cause.message) : null;
    if (net) return new CliError(`cannot reach ${url}: ${net}`);
    return new CliError(`${url} did not answer like the VDI API (${err.message})`);
  }
  return new CliError(err instanceof Error ? err.message : String(err));
}
