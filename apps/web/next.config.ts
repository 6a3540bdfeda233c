import type { NextConfig } from "next";

const config: NextConfig = {
  transpilePackages: ["@vdi/api", "@vdi/db", "@vdi/node-protocol", "@vdi/durable-file"],
  serverExternalPackages: ["@libsql/client", "libsql", "pg", "@prisma/adapter-libsql", "@prisma/adapter-pg"],
  poweredByHeader: false,
  typescript: { ignoreBuildErrors: false },
};
export default config;
