// Change notifications (node long-polls, live pages), behind one interface with two transports:
// in-process only (SQLite: one portal), or PostgreSQL LISTEN/NOTIFY (several portals on one
// database; lib/bus-postgres.ts). Kept on globalThis because Next.js may load this module once
// per route bundle. docs/rooms.md.
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";

type Bus = EventEmitter;
const KEY = Symbol.for("vdi.bus");
const TRANSPORT_KEY = Symbol.for("vdi.bus-transport");
const LOCAL_KEY = Symbol.for("vdi.bus-local-emit");
const g = globalThis as unknown as Record<symbol, unknown>;

/** How a topic reaches the other portal processes. The in-process bus has none. */
export interface BusTransport {
  readonly name: string;
  /** Tells the other processes (never this one: it has delivered the topic already). */
  publish(topic: string): void;
  close(): Promise<void>;
  /** Settles once topics from the other processes arrive (the LISTEN is in place). */
  readonly ready?: Promise<void>;
}

/** Inside a transaction (a mutation and its audit line), changes are announced only once committed. */
const held = new AsyncLocalStorage<{ topics: string[]; bus: Bus }>();

function sharedBus(): Bus {
  let b = g[KEY] as Bus | undefined;
  if (!b) {
    const emitter = new EventEmitter();
    emitter.setMaxListeners(10_000);
    const local = emitter.emit.bind(emitter);
    // Every emit is delivered here and handed to the transport for the other portals.
    emitter.emit = (topic: string | symbol, ...args: unknown[]) => {
      const delivered = local(topic, ...args);
      if (typeof topic === "string") (g[TRANSPORT_KEY] as BusTransport | undefined)?.publish(topic);
      return delivered;
    };
    b = emitter;
    g[KEY] = b;
    g[LOCAL_KEY] = local;
  }
  return b;
}
/** Delivers a topic another process published, to this process's listeners only. */
export function deliverFromElsewhere(topic: string): void {
  sharedBus();
  (g[LOCAL_KEY] as (t: string) => boolean)(topic);
}

/** Connects this process's bus to the others (replacing a transport set before); null: in-process only. */
export async function useBusTransport(transport: BusTransport | null): Promise<void> {
  const before = g[TRANSPORT_KEY] as BusTransport | undefined;
  g[TRANSPORT_KEY] = transport ?? undefined;
  if (before && before !== transport) await before.close();
}

/** Settles once this process hears the others (at once for the in-process bus). */
export function busReady(): Promise<void> {
  return (g[TRANSPORT_KEY] as BusTransport | undefined)?.ready ?? Promise.resolve();
}

/** Which transport the bus uses: "in-process" or the transport's name. */
export function busTransportName(): string {
  return (g[TRANSPORT_KEY] as BusTransport | undefined)?.name ?? "in-process";
}

export function bus(): Bus {
  return held.getStore()?.bus ?? sharedBus();
}

/**
 * Runs `fn` with `bus().emit` held back: a listener woken before the commit would read the old rows
 * and then sleep through the change. `announce` emits what was held (after the commit); dropping it
 * drops them (a rollback).
 */
export async function holdingEmits<T>(fn: () => Promise<T>): Promise<{ value: T; announce(): void }> {
  const real = sharedBus();
  const topics: string[] = [];
  const holding = new Proxy(real, {
    get(target, key) {
      if (key === "emit") return (topic: string) => { topics.push(topic); return true; };
      const v = Reflect.get(target, key) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const value = await held.run({ topics, bus: holding }, fn);
  return { value, announce: () => { for (const t of new Set(topics)) real.emit(t); } };
}

export const nodeTopic = (nodeId: string) => `node:${nodeId}`;
export const tenantTopic = (tenantId: string) => `tenant:${tenantId}`;

/** Resolves after `ms`, or earlier when `topic` fires or `signal` aborts. */
export function waitFor(topic: string, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      bus().off(topic, done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    bus().once(topic, done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * A listener that remembers: `wait` returns at once when `topic` fired since the last wait, so
 * a consumer that was busy (or suspended in a generator's yield) never misses a change.
 */
export function topicWatcher(topic: string, signal?: AbortSignal) {
  let dirty = false;
  let wake: (() => void) | null = null;
  const on = () => { dirty = true; wake?.(); };
  bus().on(topic, on);
  signal?.addEventListener("abort", () => wake?.(), { once: true });
  return {
    async wait(ms: number): Promise<void> {
      if (!dirty && !signal?.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => { wake = null; resolve(); }, ms);
          wake = () => { clearTimeout(timer); wake = null; resolve(); };
        });
      }
      dirty = false;
    },
    close() { bus().off(topic, on); },
  };
}
