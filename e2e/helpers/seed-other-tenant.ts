// A second tenant with its own user, for the isolation test; and a plain member of the demo
// user's tenant, for the seat tests (the demo user is its tenant's admin: the helpdesk).
import { ensureTenant, ensureUser } from "@vdi/api";
import { deps } from "../../apps/web/src/server/deps";

const d = deps();
const t = await ensureTenant(d.db, "other", "Other tenant");
await ensureUser(d, { email: "other@vdi.local", name: "Other User", password: "e2e-other-password", tenantId: t.id, role: "user" });
const demo = await d.db.user.findUnique({ where: { email: "demo@vdi.local" } });
if (demo) {
  await ensureUser(d, { email: "seat-user@vdi.local", name: "Sam Seat", password: "e2e-seat-password", tenantId: demo.tenantId, role: "user" });
  // Turns on two-factor authentication in the seat test.
  await ensureUser(d, { email: "totp-user@vdi.local", name: "Tia Totp", password: "e2e-totp-password", tenantId: demo.tenantId, role: "user" });
}
await d.db.$disconnect();
