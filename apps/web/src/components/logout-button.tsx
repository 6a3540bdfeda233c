"use client";
import { useRouter } from "next/navigation";
import { useMutation } from "@tanstack/react-query";
import { useTRPC } from "@/lib/trpc";

export function LogoutButton() {
  const trpc = useTRPC();
  const router = useRouter();
  const logout = useMutation(trpc.auth.logout.mutationOptions({ onSettled: () => router.replace("/login") }));
  return <button className="secondary" onClick={() => logout.mutate()}>Log out</button>;
}
