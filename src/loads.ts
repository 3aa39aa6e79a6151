/**
 * Loads: single flight per key, fencing, stale-if-error and timeouts. Every
 * outcome is decided here and announced as events through the cache's `emit`;
 * whether a finished load may be stored is read from the folded state (a load
 * that an invalidation or a newer value overtook is fenced there).
 */
import { errorType, LoadTimeoutError } from './errors.ts';
import type { CacheEvent } from './events.ts';
import { findLoad, type CacheState } from './state.ts';
import type { Clock } from './clock.ts';
import type { CacheTracing, LoadSpan } from './tracing.ts';

/** What a loader receives besides the key. */
export interface LoadContext {
  /** Aborted when the load times out (its result may still be stored if nothing overtook it). */
  readonly signal: AbortSignal;
}

export type Loader<V> = (key: string, context: LoadContext) => V | PromiseLike<V>;
export type SyncLoader<V> = (key: string) => V;

/** The parts of the cache a load needs. */
export interface LoadHost<V> {
  readonly cacheName: string;
  readonly state: CacheState<V>;
  readonly clock: Clock;
  readonly loadTimeout: number | undefined;
  readonly tracing: CacheTracing;
  emit(event: CacheEvent<V>): void;
  /** Stores a loaded value, evicting first when the cache is full. */
  store(key: string, value: V, ttl: number, at: number): void;
  /** The expired value still inside the stale-if-error window, if any. */
  staleValue(key: string, now: number): { value: V } | undefined;
}

interface Flight<V> {
  readonly loadId: number;
  readonly key: string;
  readonly startedAt: number;
  readonly ttl: number;
  readonly settle: PromiseWithResolvers<V>;
  readonly abort: AbortController;
  readonly span: LoadSpan;
  waiters: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The callers were answered by the timeout; only the store decision is left. */
  detached: boolean;
}

export class LoadCoordinator<V> {
  private readonly flights = new Map<string, Flight<V>>();
  private lastLoadId = 0;

  constructor(private readonly host: LoadHost<V>) {}

  /** The load in flight for `key` that new callers may join (not one that timed out). */
  joinable(key: string): boolean {
    return this.flights.has(key);
  }

  /** Joins the key's load in flight: one more caller shares its outcome. */
  join(key: string): Promise<V> {
    const flight = this.flights.get(key) as Flight<V>;
    flight.waiters++;
    return flight.settle.promise;
  }

  start(key: string, loader: Loader<V>, ttl: number, at: number): Promise<V> {
    const host = this.host;
    const loadId = ++this.lastLoadId;
    host.emit({ type: 'load.started', key, at, loadId });
    const flight: Flight<V> = {
      loadId,
      key,
      startedAt: at,
      ttl,
      settle: Promise.withResolvers<V>(),
      abort: new AbortController(),
      span: host.tracing.startLoad(host.cacheName, key),
      waiters: 1,
      timer: undefined,
      detached: false,
    };
    this.flights.set(key, flight);
    if (host.loadTimeout !== undefined) {
      flight.timer = setTimeout(() => this.timeOut(flight), host.loadTimeout);
      flight.timer.unref();
    }
    let pending: V | PromiseLike<V>;
    try {
      pending = flight.span.run(() => loader(key, { signal: flight.abort.signal }));
    } catch (error) {
      this.fail(flight, error);
      return flight.settle.promise;
    }
    Promise.resolve(pending).then(
      (value) => this.succeed(flight, value),
      (error: unknown) => this.fail(flight, error),
    );
    return flight.settle.promise;
  }

  /** A synchronous load for `getSync`: no sharing, no timeout; the result is stored unless fenced. */
  runSync(key: string, loader: SyncLoader<V>, ttl: number, at: number): V {
    const host = this.host;
    const loadId = ++this.lastLoadId;
    host.emit({ type: 'load.started', key, at, loadId });
    const span = host.tracing.startLoad(host.cacheName, key);
    let value: V;
    try {
      value = span.run(() => loader(key));
      if (isThenable(value)) {
        // Nobody will await it: keep its rejection from becoming an unhandled one.
        Promise.resolve(value).catch(() => undefined);
        throw new TypeError(`cache "${host.cacheName}": getSync loader returned a promise; use get() for async loaders`);
      }
    } catch (error) {
      const now = host.clock.exact();
      const stale = host.staleValue(key, now);
      host.emit(loadedEvent(key, loadId, 'error', now, at, 1, stale !== undefined, error));
      span.end('error', 1, error);
      if (stale !== undefined) return stale.value;
      throw error;
    }
    this.settleOk(key, loadId, at, 1, value, ttl);
    span.end('ok', 1);
    return value;
  }

  private succeed(flight: Flight<V>, value: V): void {
    this.finish(flight);
    this.settleOk(flight.key, flight.loadId, flight.startedAt, this.waitersOf(flight), value, flight.ttl);
    if (!flight.detached) flight.span.end('ok', flight.waiters);
    // Callers may use the value even when it was fenced: it was true when loaded.
    if (!flight.detached) flight.settle.resolve(value);
  }

  /** Announces a successful load, then stores its value unless an invalidation or a newer value fenced it. */
  private settleOk(key: string, loadId: number, startedAt: number, waiters: number, value: V, ttl: number): void {
    const host = this.host;
    const now = host.clock.exact();
    // Read before `loaded`, which retires the load's record and its fence with it.
    const fence = findLoad(host.state, key, loadId)?.fencedBy;
    host.emit(loadedEvent(key, loadId, 'ok', now, startedAt, waiters, false));
    if (fence === undefined) host.store(key, value, ttl, now);
    else host.emit({ type: 'load.discarded', key, at: now, loadId, reason: fence });
  }

  private fail(flight: Flight<V>, error: unknown): void {
    const host = this.host;
    const now = host.clock.exact();
    this.finish(flight);
    const stale = flight.detached ? undefined : host.staleValue(flight.key, now);
    host.emit(loadedEvent(flight.key, flight.loadId, 'error', now, flight.startedAt, this.waitersOf(flight), stale !== undefined, error));
    if (flight.detached) return;
    flight.span.end('error', flight.waiters, error);
    if (stale !== undefined) flight.settle.resolve(stale.value);
    else flight.settle.reject(error);
  }

  private timeOut(flight: Flight<V>): void {
    const host = this.host;
    const now = host.clock.exact();
    // Later callers start a fresh load; this one may still store its late value if nothing overtakes it.
    this.flights.delete(flight.key);
    flight.detached = true;
    flight.timer = undefined;
    const stale = host.staleValue(flight.key, now);
    host.emit({ type: 'load.timedout', key: flight.key, at: now, loadId: flight.loadId, waiters: flight.waiters, servedStale: stale !== undefined });
    flight.abort.abort(new LoadTimeoutError(host.cacheName, flight.key, host.loadTimeout ?? 0));
    flight.span.end('timeout', flight.waiters);
    if (stale !== undefined) flight.settle.resolve(stale.value);
    else flight.settle.reject(new LoadTimeoutError(host.cacheName, flight.key, host.loadTimeout ?? 0));
  }

  private finish(flight: Flight<V>): void {
    if (flight.timer !== undefined) clearTimeout(flight.timer);
    if (this.flights.get(flight.key) === flight) this.flights.delete(flight.key);
  }

  private waitersOf(flight: Flight<V>): number {
    return flight.detached ? 0 : flight.waiters;
  }
}

function loadedEvent<V>(
  key: string,
  loadId: number,
  outcome: 'ok' | 'error',
  now: number,
  startedAt: number,
  waiters: number,
  servedStale: boolean,
  error?: unknown,
): CacheEvent<V> {
  const base = { type: 'loaded', key, at: now, loadId, outcome, durationMs: now - startedAt, waiters, servedStale } as const;
  return outcome === 'error' ? { ...base, errorName: errorType(error) } : base;
}


function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
