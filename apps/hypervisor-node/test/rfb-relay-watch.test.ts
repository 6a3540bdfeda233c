// The gateway's RFB handshake watch, case by case (fuzz-gateway.test.ts covers random splits):
// what it refuses and why, in one chunk and one byte at a time.
import { describe, it, expect } from "vitest";
import { MAX_CLIENT_HANDSHAKE_BYTES, RfbRelayWatch } from "../src/rfb/rfb-relay-watch.ts";
import { serverInit } from "./console-fixtures.ts";

const v = (minor: number) => Buffer.from(`RFB 003.00${minor}\n`);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

/** Plays a conversation as [side, bytes] steps, each whole or one byte at a time. */
function play(steps: ["c" | "s", Buffer][], byteAtATime: boolean) {
  const events: string[] = [];
  const watch = new RfbRelayWatch({ done: () => events.push("done"), fail: (r) => events.push(`fail: ${r}`) });
  for (const [side, bytes] of steps) {
    const pieces = byteAtATime ? [...bytes].map((b) => Buffer.from([b])) : [bytes];
    for (const p of pieces) {
      if (side === "c") watch.fromClient(p);
      else watch.fromServer(p);
    }
  }
  return { watch, events };
}

const cases: [string, ["c" | "s", Buffer][], string[]][] = [
  ["a 3.8 handshake with security None", [["s", v(8)], ["c", v(8)], ["s", Buffer.from([1, 1])], ["c", Buffer.from([1])], ["s", u32(0)], ["c", Buffer.from([1])], ["s", serverInit()]], ["done"]],
  ["a client that is not RFB", [["s", v(8)], ["c", Buffer.from("GET / HTTP/1.1\r\n")]], ["fail: not an RFB client"]],
  ["a client version the display did not offer", [["s", v(3)], ["c", v(8)]], ["fail: client asked for RFB 3.8; the display offers 3.3"]],
  ["a security type the display did not offer", [["s", v(8)], ["c", v(8)], ["s", Buffer.from([1, 1])], ["c", Buffer.from([2])]], ["fail: client chose security type 2, which the display did not offer"]],
  ["a security type the gateway cannot follow", [["s", v(8)], ["c", v(8)], ["s", Buffer.from([2, 1, 19])], ["c", Buffer.from([19])]], ["fail: security type 19 is not supported through the gateway"]],
  ["a display that is not RFB", [["s", Buffer.from("SSH-2.0-OpenSSH\n")]], ["fail: display is not an RFB 3.x server"]],
  ["a display that refuses the connection (it closes; nothing to judge)", [["s", v(8)], ["c", v(8)], ["s", Buffer.concat([Buffer.from([0]), u32(4), Buffer.from("busy")])], ["c", Buffer.from([1, 1])]], []],
  ["failed VNC authentication", [["s", v(8)], ["c", v(8)], ["s", Buffer.from([1, 2])], ["c", Buffer.from([2])], ["s", Buffer.alloc(16)], ["c", Buffer.alloc(16)], ["s", u32(1)]], []],
  ["a desktop name over 64 KiB", [["s", v(8)], ["c", v(8)], ["s", Buffer.from([1, 1])], ["c", Buffer.from([1])], ["s", u32(0)], ["c", Buffer.from([1])], ["s", Buffer.concat([Buffer.alloc(20), u32(70_000)])]], ["fail: display sent a desktop name of 70000 bytes"]],
];

describe("RFB relay watch", () => {
  for (const [what, steps, expected] of cases) {
    it(`${what}`, () => {
      for (const byteAtATime of [false, true]) expect(play(steps, byteAtATime).events).toEqual(expected);
    });
  }

  it("holds client bytes before a valid version, then lets them through", () => {
    const { watch } = play([["s", v(8)], ["c", Buffer.from("RFB 003")]], false);
    expect(watch.clientVersionAccepted).toBe(false);
    watch.fromClient(Buffer.from(".008\n"));
    expect(watch.clientVersionAccepted).toBe(true);
  });

  it("fails a client that sends more than it may while the display has not answered", () => {
    const { events } = play([["s", v(8)], ["c", Buffer.concat([v(8), Buffer.alloc(MAX_CLIENT_HANDSHAKE_BYTES + 1)])]], false);
    expect(events).toEqual(["fail: client sent too much during the RFB handshake"]);
  });

  it("counts only keys, pointer, clipboard and resize as input once the handshake is over", () => {
    const { watch } = play(cases[0]![1], false);
    expect(watch.fromClient(Buffer.from([3, 1, 0, 0, 0, 0, 0, 16, 0, 16]))).toBe(false);  // FramebufferUpdateRequest
    expect(watch.fromClient(Buffer.from([5, 0, 0, 1, 0, 2]))).toBe(true);                // PointerEvent
    expect(watch.fromClient(Buffer.from([200]))).toBe(true);                             // unknown: framing lost, all counts
  });
});
