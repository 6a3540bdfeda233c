// One lint setup for the monorepo. Besides the usual rules it enforces the import
// direction (apps → packages/api → services → Prisma; only the node agent touches native/)
// and that configuration is read only in each app's env.ts.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const restrict = (patterns) => ["error", { patterns }];

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/.next/**", "prisma/generated/**", "var/**", "**/next-env.d.ts", "test-results/**", "playwright-report/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: "readonly", process: "readonly", Buffer: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", fetch: "readonly", window: "readonly", document: "readonly", Headers: "readonly", Request: "readonly", AbortController: "readonly", AbortSignal: "readonly", NodeJS: "readonly", EventTarget: "readonly", HTMLElement: "readonly", HTMLDivElement: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "Read configuration in the app's env.ts only." }],
    },
  },
  // Configuration entry points, tests and tooling may read the environment.
  { files: ["**/env.ts", "**/test/**", "e2e/**", "bench/**", "**/*.config.*", "scripts/**"], rules: { "no-restricted-properties": "off" } },
  // Pages and the portal's server code never reach the database or the native core directly.
  { files: ["apps/web/**"], rules: { "no-restricted-imports": restrict([
    { group: ["@vdi/db", "@vdi/db/*", "**/prisma/**"], message: "apps/web goes through @vdi/api (routers → services → Prisma)." },
    { group: ["@vdi/native", "**/native/**"], message: "Only apps/hypervisor-node uses native/." },
  ]) } },
  // The node agent talks to the portal over the wire contract (@vdi/node-protocol), never to its
  // database or its services; native only via src/native.ts. Its tests may start a portal API in-process.
  { files: ["apps/hypervisor-node/**"], ignores: ["apps/hypervisor-node/src/native.ts"], rules: { "no-restricted-imports": restrict([
    { group: ["@vdi/db", "@vdi/db/*", "**/prisma/**"], message: "The node agent has no database; it syncs with the portal." },
    { group: ["@vdi/native", "**/native/**"], message: "Import native code through apps/hypervisor-node/src/native.ts." },
  ]) } },
  { files: ["apps/hypervisor-node/src/**"], ignores: ["apps/hypervisor-node/src/native.ts"], rules: { "no-restricted-imports": restrict([
    { group: ["@vdi/db", "@vdi/db/*", "**/prisma/**"], message: "The node agent has no database; it syncs with the portal." },
    { group: ["@vdi/native", "**/native/**"], message: "Import native code through apps/hypervisor-node/src/native.ts." },
    { group: ["@vdi/api", "@vdi/api/*", "**/packages/api/**"], message: "The node imports only the wire (@vdi/node-protocol) and @vdi/durable-file of the packages." },
  ]) } },
  // The wire and the durable writes are leaves: no API, no database, no apps.
  { files: ["packages/node-protocol/**", "packages/durable-file/**"], rules: { "no-restricted-imports": restrict([
    { group: ["@vdi/api", "@vdi/api/*", "@vdi/db", "@vdi/db/*", "**/apps/**", "@vdi/native", "**/native/**", "@trpc/*"], message: "The wire package stands alone: both sides import it." },
  ]) } },
  // Routers stay thin: they call services and never touch Prisma.
  { files: ["packages/api/src/routers/**"], rules: { "no-restricted-imports": restrict([
    { group: ["@vdi/db", "@vdi/db/*"], message: "Routers call a service; services own database access." },
  ]) } },
  // Lower layers never import upward.
  { files: ["packages/**", "prisma/**", "native/**"], rules: { "no-restricted-imports": restrict([
    { group: ["**/apps/**", "@vdi/web", "@vdi/hypervisor-node"], message: "Imports go one way: apps → packages/api → services → Prisma." },
    { group: ["@vdi/native", "**/native/**"], message: "Only apps/hypervisor-node uses native/." },
  ]) } },
  { files: ["prisma/**", "native/**"], rules: { "no-restricted-imports": restrict([
    { group: ["@vdi/api", "@vdi/api/*", "**/packages/**", "**/apps/**"], message: "Prisma and native are the bottom layers." },
  ]) } },
);
