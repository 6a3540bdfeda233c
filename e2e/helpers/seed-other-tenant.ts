// A second tenant with its own user, for the isolation test.
import { ensureTenant, ensureUser } from "@vdi/api";
import { deps } from "../../apps/web/src/server/deps";

const d = deps();
const t = await ensureTenant(d.db, "other", "Other tenant");
await ensureUser(d, { email: "other@vdi.local", name: "Other User", password: "e2e-other-password", tenantId: t.id, role: "user" });
await d.db.$disconnect();
