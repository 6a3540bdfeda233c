// The bus across portal processes on one PostgreSQL: each topic a portal emits is sent with
// pg_notify on one channel and delivered to the listeners of every other portal that LISTENs
// there. NOTIFY is transactional and delivered in commit order; a payload is at most 8000 bytes
// (topics are short ids). A lost connection is re-made with backoff; while it is down the other
// portals miss topics, and their waiters fall back on their timeouts (long-polls of at most 20 s,
// live pages' keep-alive), so nothing is lost for longer than that.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { deliverFromElsewhere, type BusTransport } from "./bus.ts";

export const BUS_CHANNEL = "vdi_bus";
const MAX_TOPIC = 200;
const MAX_QUEUE = 10_000;

export function postgresBusTransport(databaseUrl: string, log: (msg: string) => void = (m) => console.error(m)): BusTransport & { ready: Promise<void> } {
  const origin = randomBytes(6).toString("hex");
  let client: pg.Client | null = null;
  let closed = false;
  let failures = 0;
  let queue: string[] = [];
  let flushing = false;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));

  async function connect(): Promise<void> {
    while (!closed) {
      const c = new pg.Client({ connectionString: databaseUrl, application_name: "vdi-bus" });
      try {
        c.on("notification", (n) => {
          if (n.channel !== BUS_CHANNEL || !n.payload) return;
          const space = n.payload.indexOf(" ");
          if (space <= 0 || n.payload.slice(0, space) === origin) return;  // our own, delivered already
          deliverFromElsewhere(n.payload.slice(space + 1));
        });
        c.on("error", (e) => {
          log(`bus: PostgreSQL connection lost (${e.message}); reconnecting`);
          if (client === c) client = null;
          void c.end().catch(() => undefined);
          if (!closed) setTimeout(() => void connect(), 500).unref();
        });
        await c.connect();
        await c.query(`LISTEN ${BUS_CHANNEL}`);
        if (closed) { await c.end(); return; }
        client = c;
        if (failures) log(`bus: listening on PostgreSQL again after ${failures} failed tries`);
        failures = 0;
        resolveReady();
        void flush();
        return;
      } catch (e) {
        failures++;
        if (failures === 1 || (failures & (failures - 1)) === 0) log(`bus: cannot LISTEN on PostgreSQL (${failures}×): ${(e as Error).message}`);
        await c.end().catch(() => undefined);
        await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** Math.min(failures, 7))).unref?.());
      }
    }
  }

  async function flush(): Promise<void> {
    if (flushing) return;
    flushing = true;
    try {
      while (client && queue.length) {
        const batch = [...new Set(queue.splice(0, 500))];
        // One statement per batch: unnest sends each topic as its own notification.
        await client.query("SELECT pg_notify($1, $2 || ' ' || t) FROM unnest($3::text[]) AS t", [BUS_CHANNEL, origin, batch]).catch((e: Error) => {
          log(`bus: cannot notify the other portals: ${e.message}`);
        });
      }
    } finally {
      flushing = false;
    }
  }

  void connect();
  return {
    name: "postgresql",
    ready,
    publish(topic) {
      if (closed || topic.length > MAX_TOPIC) return;
      if (queue.length >= MAX_QUEUE) queue = queue.slice(-MAX_QUEUE / 2);  // while disconnected: keep the newest
      queue.push(topic);
      void flush();
    },
    async close() {
      closed = true;
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
