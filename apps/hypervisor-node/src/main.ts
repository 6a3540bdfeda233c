#!/usr/bin/env -S npx tsx
// Entry point of the node agent. VMs keep running when the agent stops.
import { loadEnv } from "./env.ts";
import { startAgent } from "./agent.ts";

const agent = await startAgent(loadEnv());
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void agent.stop().then(() => process.exit(0));
  });
}
