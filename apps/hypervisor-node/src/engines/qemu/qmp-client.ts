// A QMP client over a unix socket: greeting, capability negotiation, commands with ids, events.
// QMP messages are JSON objects separated by CRLF; a line longer than MAX_LINE is refused.
import { connect, type Socket } from "node:net";
import { EventEmitter } from "node:events";

const MAX_LINE = 16 * 1024 * 1024; // screendump replies and query results stay far below this

export interface QmpEvent { event: string; data?: Record<string, unknown>; timestamp?: unknown }

export class QmpError extends Error {
  constructor(readonly qmpClass: string, message: string) {
    super(message);
  }
}

export class QmpClient extends EventEmitter<{ event: [QmpEvent]; close: []; greeting: [] }> {
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;

  private constructor(private readonly sock: Socket) {
    super();
  }

  static async connect(path: string, timeoutMs = 3000): Promise<QmpClient> {
    const sock = connect(path);
    const client = new QmpClient(sock);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`QMP greeting timed out on ${path}`)); }, timeoutMs);
      const onGreeting = () => { clearTimeout(timer); resolve(); };
      client.once("greeting", onGreeting);
      sock.once("error", (e) => { clearTimeout(timer); reject(e); });
      client.attach(sock);
    });
    await client.execute("qmp_capabilities");
    return client;
  }

  private attach(sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      this.buf += chunk;
      if (this.buf.length > MAX_LINE) {
        sock.destroy(new Error("QMP message too large"));
        return;
      }
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line) this.onMessage(line);
      }
    });
    sock.on("error", () => undefined);
    sock.on("close", () => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new Error("QMP connection closed"));
      this.pending.clear();
      this.emit("close");
    });
  }

  private onMessage(line: string) {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ("QMP" in msg) {
      this.emit("greeting");
      return;
    }
    if (typeof msg.event === "string") {
      this.emit("event", msg as unknown as QmpEvent);
      return;
    }
    const id = typeof msg.id === "string" ? msg.id : null;
    const p = id ? this.pending.get(id) : undefined;
    if (!p || !id) return;
    this.pending.delete(id);
    if ("error" in msg) {
      const e = msg.error as { class?: string; desc?: string };
      p.reject(new QmpError(e.class ?? "GenericError", e.desc ?? "QMP error"));
    } else {
      p.resolve(msg.return);
    }
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    if (this.closed) return Promise.reject(new Error("QMP connection closed"));
    const id = `c${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as T); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.sock.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.sock.destroy();
  }
}
