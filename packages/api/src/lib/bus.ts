// In-process change notifications (node long-polls, live pages). Kept on globalThis
// because Next.js may load this module once per route bundle.
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";

type Bus = EventEmitter;
const KEY = Symbol.for("vdi.bus");
const g = globalThis as unknown as Record<symbol, Bus | undefined>;

/** Inside a transaction (a mutation and its audit line), changes are announced only once committed. */
const held = new AsyncLocalStorage<{ topics: string[]; bus: Bus }>();

function sharedBus(): Bus {
  let b = g[KEY];
  if (!b) {
    b = new EventEmitter();
    b.setMaxListeners(10_000);
    g[KEY] = b;
  }
  return b;
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
