/**
 * The cache: each command decides which events happen, and `emit` applies
 * them in one order: `evolve` (the only writer of state), then the stats
 * projection, the recorder and the listeners. The hit path is the one place
 * that folds without building the event object, and only while nobody listens
 * to hits: it runs the same fold (`applyHit` + `countHit`) that `emit` would.
 */
import { clockFor, type Clock } from './clock.ts';
import { Coherence } from './coherence.ts';
import { newInstanceId } from './protocol.ts';
import { instrumentCache } from './telemetry/otel-metrics.ts';
import { CacheClosedError } from './errors.ts';
import type { CacheEvent, CacheEventOf, CacheEventType, MissReason } from './events.ts';
import { ListenerRegistry, type Listener, type Unsubscribe } from './listeners.ts';
import { LoadCoordinator, type Loader, type LoadHost, type SyncLoader } from './loads.ts';
import { positiveMs, resolveOptions, type CacheOptions, type ResolvedOptions } from './options.ts';
import { EventRecorder, type RecordedEvent } from './recorder.ts';
import { applyHit, evolve, initialState, snapshotOf, type CacheSnapshot, type CacheState } from './state.ts';
import { StatsProjection, type CacheCounters } from './stats.ts';

/** `freshSlot`'s "no fresh entry" (a number, so the hot path returns one type). */
const NONE = -1;

/** Per-call options of `get`, `getSync` and `set`. */
export interface EntryOptions {
  /** This entry's ttl in ms, instead of the cache's. */
  ttl?: number;
}

/** What `stats()` returns: the folded counters plus the current gauges. */
export interface CacheStats extends CacheCounters {
  /** Entries holding a value (fresh or expired). */
  size: number;
  /** Loads whose loader is still running. */
  loadsInFlight: number;
  /** Listener calls that threw (and were skipped). */
  listenerErrors: number;
  /** `local` without a transport; else whether this instance hears its peers. */
  link: 'local' | 'connected' | 'degraded';
  /** Keys waiting in the publish retry queue. */
  publishQueueDepth: number;
}

export class Cache<V> {
  readonly name: string;
  /** This instance's id on the channel (its own messages carry it, so it skips their echo). */
  readonly instanceId: string = newInstanceId();
  private readonly options: ResolvedOptions;
  private readonly state: CacheState<V> = initialState<V>();
  private readonly stats_ = new StatsProjection();
  private readonly recorder: EventRecorder;
  private readonly listeners: ListenerRegistry<V>;
  private readonly loads: LoadCoordinator<V>;
  private readonly clock: Clock;
  private readonly coherence: Coherence<V> | undefined;
  /** Projections that stop with the cache (telemetry registrations). */
  private readonly closeHooks = new Set<() => void>();
  private closed = false;

  constructor(options: CacheOptions) {
    this.options = resolveOptions(options);
    this.name = this.options.name;
    this.clock = clockFor(this.options.clockResolution);
    this.recorder = new EventRecorder(this.options.recentEvents);
    this.listeners = new ListenerRegistry<V>(this.options.onListenerError ?? warnOnce(this.name));
    this.loads = new LoadCoordinator<V>(this.loadHost());
    this.coherence = this.connect();
    if (this.options.metrics !== false) this.onClose(instrumentCache(this, this.options.metrics));
  }

  /** Runs `fn` when the cache closes (a projection's teardown). Returns the function that cancels it. */
  onClose(fn: () => void): Unsubscribe {
    if (this.closed) {
      fn();
      return () => undefined;
    }
    this.closeHooks.add(fn);
    return () => this.closeHooks.delete(fn);
  }

  /**
   * Read-through: the fresh value, or the loader's (shared with every caller
   * waiting for the same key). `null` is cached like any value; a loader error
   * is never cached and reaches every waiting caller.
   */
  get(key: string, loader: Loader<V>, options?: EntryOptions): Promise<V> {
    const slot = this.freshSlot(key);
    if (slot !== NONE) {
      this.hit(key, slot);
      return Promise.resolve(this.state.entries.value(slot));
    }
    try {
      return this.loadThrough(key, loader, options);
    } catch (error) {
      return rejected(error);
    }
  }

  /** Synchronous read-through for synchronous loaders (the original module's API); same events as `get`. */
  getSync(key: string, loader: SyncLoader<V>, options?: EntryOptions): V {
    const slot = this.freshSlot(key);
    if (slot !== NONE) {
      this.hit(key, slot);
      return this.state.entries.value(slot);
    }
    this.assertUsable(key, loader);
    const ttl = this.ttlOf(options);
    const now = this.clock.exact();
    this.miss(key, now);
    return this.loads.runSync(key, loader, ttl, now);
  }

  /** The fresh value, without loading, without counting a hit or miss, without touching recency. */
  peek(key: string): V | undefined {
    const slot = this.freshSlot(key);
    return slot === NONE ? undefined : this.state.entries.value(slot);
  }

  /** Whether a fresh value is cached (no hit or miss is counted). */
  has(key: string): boolean {
    return this.freshSlot(key) !== NONE;
  }

  /** Stores a value locally (this is not an invalidation: other instances are not told). */
  set(key: string, value: V, options?: EntryOptions): void {
    this.assertOpen();
    assertKey(key);
    const ttl = this.ttlOf(options);
    const now = this.clock.exact();
    this.store(key, value, ttl, now, 'set');
  }

  /** Drops `key` here (and, with a transport, on every other instance). Read-your-writes: once this resolves, the next `get` loads. */
  invalidate(key: string): Promise<void> {
    try {
      this.assertOpen();
      assertKey(key);
    } catch (error) {
      return rejected(error);
    }
    this.emit({ type: 'invalidated', scope: 'key', key, at: this.clock.exact(), origin: 'local', reason: 'explicit' });
    return this.coherence?.publishKey(key) ?? Promise.resolve();
  }

  /** Drops every entry here (and, with a transport, everywhere). */
  invalidateAll(): Promise<void> {
    if (this.closed) return Promise.reject(new CacheClosedError(this.name));
    this.emit({ type: 'invalidated', scope: 'all', at: this.clock.exact(), origin: 'local', reason: 'explicit' });
    return this.coherence?.publishClear() ?? Promise.resolve();
  }

  /** Resolves once this instance hears its peers (at once without a transport). */
  ready(): Promise<void> {
    return this.coherence?.ready() ?? Promise.resolve();
  }

  /** Local reset: forgets every entry, publishes nothing; counters keep counting. */
  clear(): void {
    this.emit({ type: 'cleared', at: this.clock.exact() });
  }

  stats(): CacheStats {
    return {
      ...structuredClone(this.stats_.counters),
      size: this.state.entries.liveCount,
      loadsInFlight: countLoads(this.state),
      listenerErrors: this.listeners.errors,
      link: this.state.link,
      publishQueueDepth: this.state.publishQueueDepth,
    };
  }

  /** The whole state as plain data; `snapshotOf(replay(events))` equals it for the events this cache emitted. */
  snapshot(): CacheSnapshot<V> {
    return snapshotOf(this.state);
  }

  /** The most recent events, oldest first, hits excluded and values redacted. */
  recentEvents(): RecordedEvent[] {
    return this.recorder.events();
  }

  /** Every event, as it is applied. Returns the unsubscribe function. */
  subscribe(listener: Listener<CacheEvent<V>>): Unsubscribe {
    return this.listeners.subscribe(listener);
  }

  /** Events of one type. Returns the unsubscribe function. */
  on<T extends CacheEventType>(type: T, listener: Listener<CacheEventOf<T, V>>): Unsubscribe {
    return this.listeners.on(type, listener);
  }

  /**
   * Sends pending invalidations, unsubscribes from the transport (which stays
   * open: its creator closes it) and stops the cache; later calls throw
   * CacheClosedError. Loads in flight still answer their callers.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const hook of this.closeHooks) {
      try {
        hook();
      } catch {
        // A projection failing to detach must not keep the cache from closing.
      }
    }
    this.closeHooks.clear();
    await this.coherence?.close();
  }

  /** The slot of a live, unexpired entry for `key`, or NONE. The one freshness check every read uses. */
  private freshSlot(key: string): number {
    const entries = this.state.entries;
    const slot = entries.slot(key);
    if (slot === undefined || !entries.isLive(slot) || entries.expiresAt(slot) <= this.clock.now()) return NONE;
    return slot;
  }

  private hit(key: string, slot: number): void {
    if (this.listeners.observesHits) {
      this.emit({ type: 'hit', key, at: this.clock.now() });
    } else {
      applyHit(this.state, slot);
      this.stats_.countHit();
    }
  }

  private loadThrough(key: string, loader: Loader<V>, options: EntryOptions | undefined): Promise<V> {
    this.assertUsable(key, loader);
    const ttl = this.ttlOf(options);
    const now = this.clock.exact();
    this.miss(key, now);
    if (this.loads.joinable(key)) return this.loads.join(key);
    return this.loads.start(key, loader, ttl, now);
  }

  /** Emits the miss with its reason; an entry past its stale-if-error window is dropped first. */
  private miss(key: string, now: number): void {
    const entries = this.state.entries;
    const slot = entries.slot(key);
    let reason: MissReason = 'absent';
    if (slot !== undefined) {
      if (!entries.isLive(slot)) {
        reason = 'invalidated';
      } else {
        reason = 'expired';
        if (entries.expiresAt(slot) + this.options.staleIfError <= now) this.emit({ type: 'expired', key, at: now });
      }
    }
    this.emit({ type: 'miss', key, at: now, reason });
  }

  private store(key: string, value: V, ttl: number, now: number, source: 'load' | 'set'): void {
    const entries = this.state.entries;
    // Size first: the key lookup (costly in a big table) only matters when the table is full.
    if (entries.size >= this.options.maxEntries && entries.slot(key) === undefined) {
      const victim = entries.leastRecentSlot();
      if (victim !== undefined) {
        const reason = entries.isLive(victim) ? 'capacity' : 'tombstone';
        this.emit({ type: 'evicted', key: entries.key(victim), at: now, reason });
      }
    }
    // While peers cannot reach us, nothing may live longer than degradedTtl.
    const lifetime = this.state.link === 'degraded' ? Math.min(ttl, this.options.degradedTtl) : ttl;
    this.emit({ type: 'stored', key, at: now, expiresAt: now + lifetime, source, value });
  }

  private connect(): Coherence<V> | undefined {
    const options = this.options;
    if (options.transport === undefined) return undefined;
    return new Coherence<V>(
      {
        cacheName: this.name,
        instanceId: this.instanceId,
        clock: this.clock,
        emit: (event) => this.emit(event),
        holdsData: () => this.state.entries.size > 0 || this.state.loads.size > 0,
        tracing: this.options.tracing,
      },
      {
        transport: options.transport,
        channel: options.channelPrefix + this.name,
        legacyChannel: options.legacyChannel,
        secret: options.secret,
        limits: options.messageLimits,
        degradedTtl: options.degradedTtl,
        maxQueuedKeys: options.maxQueuedKeys,
        retryInterval: options.retryInterval,
      },
    );
  }

  private emit(event: CacheEvent<V>): void {
    evolve(this.state, event);
    this.stats_.apply(event);
    this.recorder.record(event);
    if (!this.listeners.isEmpty) this.listeners.deliver(event);
  }

  private loadHost(): LoadHost<V> {
    return {
      cacheName: this.name,
      state: this.state,
      clock: this.clock,
      loadTimeout: this.options.loadTimeout,
      tracing: this.options.tracing,
      emit: (event) => this.emit(event),
      store: (key, value, ttl, at) => this.store(key, value, ttl, at, 'load'),
      staleValue: (key, now) => {
        const entries = this.state.entries;
        const slot = entries.slot(key);
        if (slot === undefined || !entries.isLive(slot)) return undefined;
        const expiresAt = entries.expiresAt(slot);
        return expiresAt <= now && now < expiresAt + this.options.staleIfError ? { value: entries.value(slot) } : undefined;
      },
    };
  }

  private ttlOf(options: EntryOptions | undefined): number {
    return options?.ttl === undefined ? this.options.ttl : positiveMs('ttl', options.ttl);
  }

  private assertUsable(key: string, loader: unknown): void {
    this.assertOpen();
    assertKey(key);
    if (typeof loader !== 'function') throw new TypeError(`cache "${this.name}": loader must be a function`);
  }

  private assertOpen(): void {
    if (this.closed) throw new CacheClosedError(this.name);
  }
}

/** Creates a cache. Throws CacheOptionError, naming the option, when an option is invalid. */
export function createCache<V>(options: CacheOptions): Cache<V> {
  return new Cache<V>(options);
}

/** A rejected promise for an error a synchronous check threw (always an Error here). */
function rejected<T>(error: unknown): Promise<T> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`cache keys are strings, got ${typeof key}`);
}

function countLoads<V>(state: CacheState<V>): number {
  let count = 0;
  for (const group of state.loads.values()) count += group.length;
  return count;
}

function warnOnce(cacheName: string): (error: unknown, eventType: string) => void {
  let warned = false;
  return (error, eventType) => {
    if (warned) return;
    warned = true;
    const reason = error instanceof Error ? error.name : typeof error;
    process.emitWarning(`a listener threw (${reason}) on a "${eventType}" event; later ones are counted in stats().listenerErrors`, {
      type: 'CoherentCacheWarning',
      detail: `cache "${cacheName}"`,
    });
  };
}
