// RFB protocol constants the node uses (thumbnail grabber, console gateway), named as RFC 6143 names them.

/** §7.1.1 ProtocolVersion: we speak 3.8 only. */
export const PROTOCOL_VERSION = "RFB 003.008\n";
export const PROTOCOL_VERSION_LENGTH = 12;

/** §7.1.2 Security types. */
export const SECURITY_TYPE = { Invalid: 0, None: 1, VncAuthentication: 2 } as const;
/** §7.2.2 VNC Authentication: a 16-byte challenge and a 16-byte response. */
export const VNC_AUTH_CHALLENGE_LENGTH = 16;

/** §7.1.3 SecurityResult (a u32). */
export const SECURITY_RESULT_OK = 0;
export const SECURITY_RESULT_LENGTH = 4;

/** §7.3.1 ClientInit: one shared-flag byte. */
export const CLIENT_INIT_LENGTH = 1;
/** §7.3.1 ClientInit shared-flag: non-zero leaves other viewers connected. */
export const CLIENT_INIT_SHARED = 1;

/**
 * §7.5 Client-to-server message types, and the registered extensions (§7.5 "other registered
 * message types") that noVNC and QEMU use.
 */
export const CLIENT_MESSAGE = {
  SetPixelFormat: 0, SetEncodings: 2, FramebufferUpdateRequest: 3, KeyEvent: 4, PointerEvent: 5, ClientCutText: 6,
  EnableContinuousUpdates: 150, ClientFence: 248, Xvp: 250, SetDesktopSize: 251, Gii: 253, Qemu: 255,
} as const;
/** QEMU client message sub-types (message type 255). */
export const QEMU_CLIENT_MESSAGE = { ExtendedKeyEvent: 0, Audio: 1 } as const;
/** QEMU audio operations; SetFormat carries 6 more bytes. */
export const QEMU_AUDIO_OPERATION = { Enable: 0, Disable: 1, SetFormat: 2 } as const;

/** §7.6 Server-to-client message types. */
export const SERVER_MESSAGE = { FramebufferUpdate: 0, SetColourMapEntries: 1, Bell: 2, ServerCutText: 3 } as const;

/** §7.7 Encodings (Raw) and §7.8.2 pseudo-encodings (DesktopSize). */
export const ENCODING = { Raw: 0, DesktopSize: -223 } as const;

/** §7.3.2 ServerInit: width, height, 16-byte PIXEL_FORMAT, name-length; then the name. */
export const SERVER_INIT_HEADER_LENGTH = 24;
/** §7.6.1 FramebufferUpdate header, and each rectangle header. */
export const UPDATE_HEADER_LENGTH = 4;
export const RECT_HEADER_LENGTH = 12;
/** §7.6.2 SetColourMapEntries header; six bytes per colour follow. */
export const COLOUR_MAP_HEADER_LENGTH = 6;
/** §7.6.4 ServerCutText header; the text follows. */
export const CUT_TEXT_HEADER_LENGTH = 8;

/** The pixel format we ask for (§7.4 PIXEL_FORMAT): 32 bpp true colour, little-endian, B,G,R,X in memory. */
export const BYTES_PER_PIXEL = 4;
export function pixelFormat32(): Buffer {
  const pf = Buffer.alloc(16);
  pf[0] = 32;     // bits-per-pixel
  pf[1] = 24;     // depth
  pf[2] = 0;      // big-endian-flag
  pf[3] = 1;      // true-colour-flag
  pf.writeUInt16BE(255, 4);  // red-max
  pf.writeUInt16BE(255, 6);  // green-max
  pf.writeUInt16BE(255, 8);  // blue-max
  pf[10] = 16;    // red-shift
  pf[11] = 8;     // green-shift
  pf[12] = 0;     // blue-shift
  return pf;
}
