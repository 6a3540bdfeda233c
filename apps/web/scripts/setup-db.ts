// Brings the database up to date (migrations) and seeds first-run data. Idempotent.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { migrateDatabase, seed, imageTemplateSchema, type ImageTemplate } from "@vdi/api";
import { deps } from "../src/server/deps";
import { env, seedEnv } from "../src/env";

const e = env();
const s = seedEnv();
const applied = await migrateDatabase(e.databaseUrl);
console.log(applied.length ? `database: applied ${applied.join(", ")}` : "database: up to date");

const imageDir = resolve(s.VDI_IMAGE_DIR);
const templates: ImageTemplate[] = existsSync(imageDir)
  ? readdirSync(imageDir)
      .filter((d) => existsSync(join(imageDir, d, "template.json")))
      .map((d) => imageTemplateSchema.parse(JSON.parse(readFileSync(join(imageDir, d, "template.json"), "utf8"))))
  : [];
await seed(deps(), {
  admin: { email: s.VDI_ADMIN_EMAIL, password: s.VDI_ADMIN_PASSWORD },
  demo: { email: s.VDI_DEMO_EMAIL, password: s.VDI_DEMO_PASSWORD },
  templates,
});
console.log(`database: seeded admin, demo tenant and ${templates.length} template(s)`);
await deps().db.$disconnect();
