/**
 * The tracing seam. Spans are a projection: a `CacheTracing` attaches to the
 * cache's events (a load span from `load.started` to `loaded`, a publish span
 * ended by `published` or `publish.failed`, a receive span per
 * `message.received`). Two things cannot wait for an event, and the cache
 * asks for them through these hooks: running a loader inside its load span's
 * context (so the loader's own spans are its children), and the traceparent a
 * message carries (the publish span must exist before the message is written).
 * The default does nothing; telemetry/otel-tracing.ts is the OpenTelemetry one.
 */
import type { CacheEventOf, CacheEventType } from '../core/events.ts';
import type { Listener, Unsubscribe } from '../projections/listeners.ts';

/** What a tracing projection sees of a cache: its name and its events. */
export interface TracedCache {
  readonly name: string;
  /** What carries its messages (`Transport.kind`: `redis`, `cluster-ipc`, `memory`); undefined without a transport. */
  readonly transportKind?: string | undefined;
  on<T extends CacheEventType>(type: T, listener: Listener<CacheEventOf<T>>): Unsubscribe;
}

export interface TraceHooks {
  /** Runs load `loadId`'s loader in its span's context (the span began with the load's `load.started` event). */
  runLoader<T>(loadId: number, loader: () => T): T;
  /** Opens the span of a publish about to go out on `channel`; returns the W3C traceparent the message carries, which its `published` or `publish.failed` event carries back. */
  openPublish(channel: string): string | undefined;
  /** Stops following the cache. */
  detach(): void;
}

export interface CacheTracing {
  attach(cache: TracedCache): TraceHooks;
}

const NO_HOOKS: TraceHooks = {
  runLoader: (_loadId, loader) => loader(),
  openPublish: () => undefined,
  detach: () => undefined,
};

export const NO_TRACING: CacheTracing = { attach: () => NO_HOOKS };
