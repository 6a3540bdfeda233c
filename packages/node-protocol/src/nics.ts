// A VM's network cards as the portal gives them to a node: a list, each naming the network it
// plugs into. Today every card is QEMU's user-mode network (or the microVM's own); a tenant network
// (a bridge, VXLAN) becomes one more `network.kind` here and one more backend in each engine's table.
import { z } from "zod";

export const MAC_ADDRESS = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
export const MAX_NICS = 8;

export const nicNetworkSchema = z.discriminatedUnion("kind", [
  /** The engine's own user-mode network (QEMU slirp, restricted unless the template asks for egress). */
  z.object({ kind: z.literal("user") }),
]);
export type NicNetwork = z.infer<typeof nicNetworkSchema>;

export const nicSchema = z.object({
  /** The card's name inside the VM's engine ("net0", "net1" …). */
  id: z.string().regex(/^net[0-9]$/),
  mac: z.string().regex(MAC_ADDRESS),
  network: nicNetworkSchema,
});
export type Nic = z.infer<typeof nicSchema>;

/** The cards of a VM that has one MAC and no networks of its own (every VM until tenant networks). */
export function defaultNics(mac: string): Nic[] {
  return [{ id: "net0", mac, network: { kind: "user" } }];
}
