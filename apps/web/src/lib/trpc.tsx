"use client";
// tRPC + TanStack Query for the pages: batched HTTP for calls, SSE for subscriptions.
import { useState, type ReactNode } from "react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { AppRouter } from "@vdi/api/client";

export const { TRPCProvider, useTRPC } = createTRPCContext<AppRouter>();

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            staleTime: 1000,
            retry: (count, err) => count < 2 && !(err instanceof TRPCClientError && err.data?.httpStatus && err.data.httpStatus < 500),
          },
        },
      }),
  );
  const [client] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: "/api/trpc" }),
          // Within the endpoint's limits (server/request-limits.ts): longer batches are split.
          false: httpBatchLink({ url: "/api/trpc", maxItems: 10, maxURLLength: 4000 }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={client} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}

/** The message to show for a failed call: the server's message, never a stack. */
export function errorMessage(err: unknown): string | null {
  if (!err) return null;
  if (err instanceof TRPCClientError) return err.message;
  return "Something went wrong; please try again";
}

export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (err instanceof TRPCClientError) {
    const list = (err.data as { fieldErrors?: { path: string; message: string }[] | null } | undefined)?.fieldErrors ?? [];
    for (const f of list) out[f.path] ??= f.message;
  }
  return out;
}
