"use client";
// Keeps VM pages live: a server-sent event on every change refetches VM queries.
import { useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useTRPC } from "@/lib/trpc";

export function LiveUpdates() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  useSubscription(
    trpc.vm.changes.subscriptionOptions(undefined, {
      onData: () => {
        void qc.invalidateQueries({ queryKey: trpc.vm.pathKey() });
        void qc.invalidateQueries({ queryKey: trpc.operation.pathKey() });
      },
    }),
  );
  return null;
}
