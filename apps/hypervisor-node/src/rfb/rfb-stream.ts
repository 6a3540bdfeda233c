// The console gateway's RFB row: a VM's VNC socket as target, watched by RfbRelayWatch (the
// client's bytes reach the display only as parsed, ClientInit always asks for a shared display).
import type { StreamProtocol } from "../gateway/stream-protocol.ts";
import { RfbRelayWatch } from "./rfb-relay-watch.ts";

export function rfbStream(displayOf: (vmId: string) => string | null): StreamProtocol {
  return {
    name: "RFB",
    unavailable: (vmId) => displayOf(vmId) ? null : "VM is not running on this node",
    async open(vmId) {
      const path = displayOf(vmId);
      if (!path) throw new Error("VM is not running on this node");
      return { path, release: () => undefined };
    },
    watch(vmId, events, policy) {
      const watch: RfbRelayWatch = new RfbRelayWatch({
        done: () => {
          events.done();
          if (watch.askedExclusive) events.log(`console of vm ${vmId}: the client asked for exclusive access; it shares the display`);
        },
        fail: events.fail,
      }, policy?.input);
      return {
        fromClient: (data) => watch.fromClient(data),
        takeForTarget: () => watch.takeForDisplay(),
        fromTarget: (chunk) => watch.fromServer(chunk),
        get settled() { return watch.settled; },
      };
    },
  };
}
