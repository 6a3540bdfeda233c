// Minimal types for noVNC's RFB class (the package ships none for its current paths).
declare module "@novnc/novnc" {
  export default class RFB extends EventTarget {
    /** A URL, or a WebSocket the caller opened (binaryType "arraybuffer"). */
    constructor(target: HTMLElement, urlOrChannel: string | WebSocket, options?: { shared?: boolean; credentials?: { password?: string }; wsProtocols?: string[] });
    scaleViewport: boolean;
    resizeSession: boolean;
    viewOnly: boolean;
    focusOnClick: boolean;
    background: string;
    disconnect(): void;
    sendCtrlAltDel(): void;
    sendKey(keysym: number, code: string | null, down?: boolean): void;
    focus(): void;
    /** Text for the server's clipboard (noVNC sends it as ClientCutText). */
    clipboardPasteFrom(text: string): void;
  }
}
