// The procedures a node calls on its portal, as data: path, kind, input and output schemas. The
// portal's router takes its inputs from here; the node calls them over tRPC's HTTP wire and checks
// every answer against the output schema (apps/hypervisor-node/src/portal-client.ts).
import { z } from "zod";
import { consoleAccessSchema } from "./console-access.ts";
import { registerOutputSchema, syncOutputSchema } from "./desired-vm.ts";
import { registerInputSchema, syncInputSchema } from "./vm-report.ts";

export interface WireProcedure<I extends z.ZodType, O extends z.ZodType> {
  path: string;
  kind: "query" | "mutation";
  input: I;
  output: O;
}

function procedure<I extends z.ZodType, O extends z.ZodType>(p: WireProcedure<I, O>): WireProcedure<I, O> {
  return p;
}

export const nodeWire = {
  /** Join with the shared join token; a node re-registering its name proves who it is with its credentials. */
  register: procedure({ path: "nodeAgent.register", kind: "mutation", input: registerInputSchema, output: registerOutputSchema }),
  /** Report every VM; get back the desired set (long-polls up to waitMs while it is unchanged). */
  sync: procedure({ path: "nodeAgent.sync", kind: "mutation", input: syncInputSchema, output: syncOutputSchema }),
  /** Who may open each VM's console on this node. */
  consoleAccess: procedure({ path: "nodeAgent.consoleAccess", kind: "query", input: z.undefined(), output: consoleAccessSchema }),
} as const;

export type NodeWire = typeof nodeWire;
export type WireInput<K extends keyof NodeWire> = z.input<NodeWire[K]["input"]>;
export type WireOutput<K extends keyof NodeWire> = z.output<NodeWire[K]["output"]>;

/** The credentials header a node presents: "Bearer node.<nodeId>.<secret>". */
export function nodeBearer(creds: { nodeId: string; secret: string } | null): string | null {
  return creds ? `Bearer node.${creds.nodeId}.${creds.secret}` : null;
}
