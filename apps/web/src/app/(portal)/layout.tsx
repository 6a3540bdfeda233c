import type { ReactNode } from "react";
import Link from "next/link";
import { requireUser } from "@/server/session";
import { LogoutButton } from "@/components/logout-button";
import { LiveUpdates } from "@/components/live-updates";

export const dynamic = "force-dynamic";

export default async function PortalLayout({ children }: { children: ReactNode }) {
  const user = await requireUser();
  const role = (user as typeof user & { role?: string }).role;
  return (
    <>
      <header className="topbar">
        <Link href="/vms" className="brand">VDI</Link>
        <nav className="nav">
          <Link href="/vms">Virtual machines</Link>
          <Link href="/settings/tokens">API tokens</Link>
          <Link href="/settings/security">Security</Link>
          {(role === "tenant_admin" || role === "admin") && <Link href="/tenant">Tenant</Link>}
          {(role === "tenant_admin" || role === "admin") && <Link href="/tenant/seats">Seats</Link>}
          {(role === "tenant_admin" || role === "admin") && <Link href="/tenant/pools">Pools</Link>}
          {(role === "tenant_admin" || role === "admin") && <Link href="/tenant/sessions">Sessions</Link>}
          {(role === "tenant_admin" || role === "admin") && <Link href="/admin/audit">Audit log</Link>}
          {role === "admin" && <Link href="/admin/tenants">Tenants</Link>}
          {role === "admin" && <Link href="/admin/platform">Nodes and templates</Link>}
        </nav>
        <span className="who">{user.name} · {user.email}</span>
        <LogoutButton />
      </header>
      <LiveUpdates />
      <main className="page">{children}</main>
    </>
  );
}
