/**
 * The cache shell. Every call becomes a command; `decide` answers it with
 * events and effects; the shell applies the events in one order (`evolve`, the
 * only writer of state, then stats, the recorder and the listeners) and runs
 * the effects (loads, publishes, timers). The hit path is the one place that
 * decides and folds inline, without building the event, and only while nobody
 * listens to hits: it does exactly what `decide` + `evolve` do for a hit.
 */
import type { MeterProvider } from '@opentelemetry/api';
import type { Command, InvalidateCommand } from '../core/commands.ts';
import { decide } from '../core/decide.ts';
import type { Effect } from '../core/effects.ts';
import type { CacheEvent, CacheEventOf, CacheEventType } from '../core/events.ts';
import { applyHit, evolve } from '../core/evolve.ts';
import { snapshotOf, type CacheSnapshot } from '../core/snapshot.ts';
import { findLoad, initialState, type CacheState } from '../core/state.ts';
import type { Coherence } from '../coherence/coherence.ts';
import { connectCoherence } from './connect.ts';
import { ListenerRegistry, type Listener, type Unsubscribe } from '../projections/listeners.ts';
import type { ViolationIncident } from '../projections/incidents.ts';
import { EventRecorder, type RecordedEvent } from '../projections/recorder.ts';
import { StatsProjection } from '../projections/stats.ts';
import { newInstanceId } from '../protocol/message.ts';
import type { CacheStats, EntryOptions, Reply } from './cache-types.ts';
import { clockFor, type Clock } from './clock.ts';
import { CacheClosedError } from './errors.ts';
import { LoadRunner, type Loader, type SyncLoader } from './load-runner.ts';
import { policyOf, resolveOptions, type CacheOptions, type ResolvedOptions } from './options.ts';
import { warnOnce } from './listener-warning.ts';
import { AckWaiters } from './ack-waiters.ts';
import { ackTimeoutOf, type InvalidateOptions } from './invalidate-options.ts';
import { Verifier } from './verifier.ts';
import { NO_TRACING, type CacheTracing, type TraceHooks } from './tracing.ts';
import { positiveMs } from './validate.ts';
import { jittered } from './bound-options.ts';
import { assertKey, perCallWindow, rejected } from './guards.ts';
import { withSize } from './sizing.ts';
import { NamespaceView, type CacheView, type NamespaceHost } from './namespace.ts';
import { peersOf, statsOf } from './state-views.ts';
import { ArgumentChecks, withCheckedTags } from './tags.ts';

export type { CacheStats, EntryOptions } from './cache-types.ts';
export type { CacheView } from './namespace.ts';

/** `freshSlot`'s "no fresh entry" (a number, so the hot path returns one type). */
const NONE = -1;

/** What the package entry point supplies: the telemetry a cache gets unless its options say otherwise. */
export interface CacheDefaults {
  readonly tracing: CacheTracing;
  /** Starts exporting a cache's metrics; returns the function that stops it. */
  readonly instrument: (cache: Cache<unknown>, options: { meterProvider?: MeterProvider }) => Unsubscribe;
}

export class Cache<V> implements NamespaceHost<V> {
  readonly name: string;
  /** This instance's id on the channel (its own messages carry it, so it skips their echo). */
  readonly instanceId: string = newInstanceId();
  private readonly options: ResolvedOptions;
  private readonly state: CacheState<V>;
  private readonly stats_ = new StatsProjection();
  private readonly recorder: EventRecorder;
  private readonly listeners: ListenerRegistry<V>;
  private readonly loads: LoadRunner<V>;
  private readonly clock: Clock;
  private readonly trace: TraceHooks;
  private readonly coherence: Coherence<V> | undefined;
  /** Projections that stop with the cache (telemetry registrations). */
  private readonly closeHooks = new Set<() => void>();
  private readonly acks: AckWaiters<V>;
  private readonly verifier: Verifier<V> | undefined;
  /** Hits until the next one is verified; -1 without verification (never counted down then, so it stays a small integer). */
  private verifyIn = -1;
  /** The loader of the read being dispatched (a function is no command data), and its `{ tags }`. */
  private loader: Loader<V> | SyncLoader<V> | undefined;
  private loadTags: readonly string[] | undefined;
  private readonly checks: ArgumentChecks;
  private closed = false;

  /** @internal Use `createCache`. */
  constructor(options: CacheOptions, defaults: CacheDefaults) {
    this.options = resolveOptions(options);
    this.name = this.options.name;
    this.state = initialState<V>(policyOf(this.options, this.instanceId));
    this.clock = clockFor(this.options.clockResolution);
    this.recorder = new EventRecorder(this.options.recentEvents);
    this.listeners = new ListenerRegistry<V>(this.options.onListenerError ?? warnOnce(this.name));
    const tracing = this.options.tracing === undefined ? defaults.tracing : this.options.tracing === false ? NO_TRACING : this.options.tracing;
    this.trace = tracing.attach(this);
    this.onClose(() => this.trace.detach());
    const dispatch = (command: Command<V>): void => void this.dispatch(command);
    this.loads = new LoadRunner<V>({ cacheName: this.name, trace: this.trace, now: () => this.clock.exact(), dispatch, staleIfError: this.options.staleIfError });
    this.coherence = connectCoherence(this.options, { cacheName: this.name, instanceId: this.instanceId, clock: this.clock, state: this.state, trace: this.trace, dispatch });
    this.checks = new ArgumentChecks(this.name, this.options.messageLimits.maxKeyLength, this.coherence !== undefined);
    this.acks = new AckWaiters<V>({ cacheName: this.name, now: () => this.clock.exact(), dispatch });
    this.verifier = this.options.verify && new Verifier<V>(this.options.verify, { now: () => this.clock.exact(), dispatch, graceMs: this.options.degradedTtl, loadDefaults: { ttl: this.options.ttl, staleIfError: this.options.staleIfError } });
    this.verifyIn = this.verifier?.nextCountdown() ?? -1;
    if (this.options.metrics !== false) this.onClose(defaults.instrument(this as Cache<unknown>, this.options.metrics));
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
   * Read-through: the fresh value, or the loader's (shared with every caller waiting for the same key, unless an
   * invalidation fenced that load). `null` is cached like any value; a loader error is never cached and reaches every
   * waiting caller. `CacheView` documents what the cache shares with its namespaces (tags, expire, namespace).
   */
  get(key: string, loader: Loader<V>, options?: EntryOptions): Promise<V> {
    const slot = this.freshSlot(key);
    if (slot !== NONE && !this.listeners.observesHits && !(this.options.refreshAhead > 0 && this.state.entries.refreshAt(slot) <= this.clock.now())) {
      this.hit(slot);
      const value = this.state.entries.value(slot);
      if (this.verifyIn > 0 && --this.verifyIn === 0) this.verifyHit(key, value, loader, false);
      return Promise.resolve(value);
    }
    try {
      if (slot === NONE) this.assertUsable(key, loader);
      const reply = this.read(key, loader, options, false, slot !== NONE);
      if (reply?.kind === 'value' && this.verifyIn > 0 && --this.verifyIn === 0) this.verifyHit(key, reply.value, loader, false);
      return reply?.kind === 'promise' ? reply.promise : Promise.resolve((reply as { value: V }).value);
    } catch (error) {
      return rejected(error);
    }
  }

  /** Synchronous read-through for synchronous loaders (the original module's API); same events as `get`. */
  getSync(key: string, loader: SyncLoader<V>, options?: EntryOptions): V {
    const slot = this.freshSlot(key);
    if (slot !== NONE && !this.listeners.observesHits) {
      this.hit(slot);
      const value = this.state.entries.value(slot);
      if (this.verifyIn > 0 && --this.verifyIn === 0) this.verifyHit(key, value, loader, true);
      return value;
    }
    if (slot === NONE) this.assertUsable(key, loader);
    const value = (this.read(key, loader, options, true, slot !== NONE) as { value: V }).value;
    if (slot !== NONE && this.verifyIn > 0 && --this.verifyIn === 0) this.verifyHit(key, value, loader, true);
    return value;
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
    this.dispatch({ type: 'set', key, at: this.clock.exact(), ttl: this.ttlOf(options), value, ...perCallWindow(options), ...this.checks.tagged(options) });
  }

  /**
   * Drops `key` here (and, with a transport, on every other instance). Read-your-writes: once this resolves, the next
   * `get` calls its loader, and no read that begins after it joins a load that began before it. With `{ ack: 'all' }`
   * it resolves only once every peer live at the call confirmed it dropped the key, and rejects with AckTimeoutError
   * naming those that did not within `timeout`.
   */
  invalidate(key: string, options?: InvalidateOptions): Promise<void> {
    return this.invalidation(() => ({ type: 'invalidate', at: this.clock.exact(), scope: 'key', key: this.checks.key(key) }), options);
  }

  /** Drops every entry here (and, with a transport, everywhere); `{ ack: 'all' }` as for `invalidate`. */
  invalidateAll(options?: InvalidateOptions): Promise<void> {
    return this.invalidation(() => ({ type: 'invalidate', at: this.clock.exact(), scope: 'all' }), options);
  }

  invalidateTag(tag: string, options?: InvalidateOptions): Promise<void> {
    return this.invalidation(() => ({ type: 'invalidate', at: this.clock.exact(), scope: 'tag', tag: this.checks.tag(tag) }), options);
  }

  expire(key: string, options?: InvalidateOptions): Promise<void> {
    return this.invalidation(() => ({ type: 'invalidate', at: this.clock.exact(), scope: 'key', key: this.checks.key(key), soft: true }), options);
  }

  expireTag(tag: string, options?: InvalidateOptions): Promise<void> {
    return this.invalidation(() => ({ type: 'invalidate', at: this.clock.exact(), scope: 'tag', tag: this.checks.tag(tag), soft: true }), options);
  }

  namespace(name: string): CacheView<V> {
    return new NamespaceView<V>(this, '', name);
  }

  /** @internal A namespace's `invalidateAll`: the keys starting with `prefix`, on every instance. */
  invalidatePrefix(prefix: string, options?: InvalidateOptions): Promise<void> {
    return this.invalidation(() => ({ type: 'invalidate', at: this.clock.exact(), scope: 'prefix', prefix: this.checks.tag(prefix) }), options);
  }

  /** Resolves once this instance hears its peers (at once without a transport). */
  ready(): Promise<void> {
    return this.coherence?.ready() ?? Promise.resolve();
  }

  /** Local reset: forgets every entry, publishes nothing; counters keep counting. */
  clear(): void {
    this.dispatch({ type: 'clear', at: this.clock.exact() });
  }

  stats(): CacheStats {
    return statsOf(this.state, this.stats_.counters, this.listeners.errors);
  }

  /** The other instances heard on the channel within 2 × degradedTtl, by instance id, with when each was last heard. */
  peers(): { readonly instance: string; readonly heardAt: number }[] {
    return peersOf(this.state);
  }

  /** The whole state as plain data; `replay(events)` equals it for the events this cache emitted. */
  snapshot(): CacheSnapshot<V> {
    return snapshotOf(this.state);
  }

  /** The most recent events, oldest first, hits excluded and values redacted. */
  recentEvents(): RecordedEvent[] {
    return this.recorder.events();
  }

  /** The last coherence violations verification found (at most 8), each with the recorded events before and after it. */
  violations(): ViolationIncident[] {
    return this.recorder.violations();
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
   * Delivers queued invalidations within `closeTimeout`, unsubscribes from the transport (which stays open: its creator
   * closes it) and stops the cache; later calls throw CacheClosedError. Loads in flight still answer their callers.
   * Rejects with UndeliveredInvalidationsError, naming the keys, when some could not be delivered in time (closed all the same).
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
    this.verifier?.close();
    this.acks.close(new CacheClosedError(this.name));
    await this.coherence?.close();
  }

  /** The slot of a live, unexpired entry for `key` served under a lease in force, or NONE: `decide`'s hit test, inlined for the hot path. */
  private freshSlot(key: string): number {
    const state = this.state;
    const entries = state.entries;
    const slot = entries.slot(key);
    if (slot === undefined || !entries.isLive(slot)) return NONE;
    const now = this.clock.now();
    return entries.expiresAt(slot) <= now || now >= state.leaseUntil ? NONE : slot;
  }

  /**
   * A hit while nobody listens to hits: what `decide` + `evolve` do for a
   * fresh entry (serve it, fold the hit), without building the command, the
   * event or the decision. With a hit listener, reads go through `decide`.
   */
  private hit(slot: number): void {
    applyHit(this.state, slot);
    this.stats_.countHit();
  }

  /** A sampled hit: verified off the hot path; the countdown starts again. */
  private verifyHit(key: string, value: V, loader: Loader<V> | SyncLoader<V>, sync: boolean): void {
    this.verifyIn = (this.verifier as Verifier<V>).sample(key, value, loader, sync);
  }

  /** A read through `decide`. `fresh`: the hot path found a fresh entry at the hit clock's time, which the command then carries (a refresh-ahead reload keeps the read's tags). */
  private read(key: string, loader: Loader<V> | SyncLoader<V>, options: EntryOptions | undefined, sync: boolean, fresh: boolean): Reply<V> {
    const ttl = fresh && this.options.refreshAhead === 0 ? 0 : this.ttlOf(options);
    this.loader = loader;
    this.loadTags = fresh && this.options.refreshAhead === 0 ? undefined : this.checks.tags(options);
    try {
      return this.dispatch({ type: 'read', key, at: fresh ? this.clock.now() : this.clock.exact(), ttl, sync, ...perCallWindow(options) });
    } finally {
      this.loader = undefined;
      this.loadTags = undefined;
    }
  }

  /** One command: decide, apply the events, run the effects. */
  private dispatch(command: Command<V>): Reply<V> {
    const sizeOf = this.options.sizeOf;
    const sized = sizeOf === undefined ? command : withSize(command, sizeOf, this.name);
    const decision = decide(this.state, withCheckedTags(sized, this.name, this.options.messageLimits.maxKeyLength));
    this.apply(decision.events);
    return decision.effects.length === 0 ? undefined : this.run(decision.effects);
  }

  /** Applies events in the one order every event takes; listeners hear a decision's events after all of them are folded. */
  private apply(events: readonly CacheEvent<V>[]): void {
    const verifier = this.verifier?.watching === true ? this.verifier : undefined;
    for (const event of events) {
      evolve(this.state, event);
      this.stats_.apply(event);
      this.recorder.record(event);
      verifier?.observe(event);
    }
    if (!this.listeners.isEmpty) for (const event of events) this.listeners.deliver(event);
  }

  private run(effects: readonly Effect<V>[]): Reply<V> {
    let reply: Reply<V>;
    for (const effect of effects) {
      switch (effect.type) {
        case 'serve':
          reply = { kind: 'value', value: effect.value };
          break;
        case 'start-load': {
          const loader = this.loader;
          this.loader = undefined;
          // A background load leaves the reply as decided (the value served).
          reply = this.loads.run(effect, loader, findLoad(this.state, effect.key, effect.loadId)?.ttl ?? this.options.ttl, this.loadTags) ?? reply;
          break;
        }
        case 'join-load':
          reply = { kind: 'promise', promise: this.loads.join(effect.loadId, effect.key) };
          break;
        case 'settle-load':
          this.loads.settle(effect.loadId, effect.result);
          break;
        case 'abort-load':
          this.loads.abort(effect.loadId, this.options.loadTimeout ?? 0);
          break;
        case 'arm-load-timeout':
          this.loads.armTimeout(effect.loadId, effect.key, effect.afterMs);
          break;
        case 'publish':
          if (this.coherence !== undefined) reply = { kind: 'sent', promise: this.coherence.publish(effect) };
          break;
        case 'flush':
          void this.coherence?.flush();
          break;
        case 'arm-retry':
          this.coherence?.armRetry(effect.afterMs);
          break;
        case 'send-beat':
          this.coherence?.sendBeat();
          break;
        case 'read-log':
          this.coherence?.readLog(effect);
          break;
        case 'send-ack':
          this.coherence?.sendAck(effect.ack, effect.to);
          break;
        case 'arm-ack-timeout':
          // The caller waits for the send (as without ack) and for the confirmations.
          reply = { kind: 'sent', promise: this.acks.arm(effect, reply?.kind === 'sent' ? reply.promise : undefined) };
          break;
        case 'settle-ack':
          this.acks.settle(effect.requestId, effect.missing);
          break;
        default:
          assertNever(effect);
      }
    }
    return reply;
  }

  /** Dispatches an invalidation (asking for confirmations when `options` say so); resolves once it is sent (and confirmed); rejects when closed or `make` refuses an argument. */
  private invalidation(make: () => InvalidateCommand, options?: InvalidateOptions): Promise<void> {
    try {
      this.assertOpen();
      const command = make();
      const ackTimeout = ackTimeoutOf(options, this.options.invalidateTimeout);
      const reply = this.dispatch(ackTimeout === undefined ? command : { ...command, ackTimeout });
      return reply?.kind === 'sent' ? reply.promise : Promise.resolve();
    } catch (error) {
      return rejected(error);
    }
  }

  /** The ttl of a value about to be stored or loaded, jittered here: randomness is the shell's, and the events carry what it decided. */
  private ttlOf(options: EntryOptions | undefined): number {
    const ttl = options?.ttl === undefined ? this.options.ttl : positiveMs('ttl', options.ttl);
    return this.options.ttlJitter === 0 ? ttl : jittered(ttl, this.options.ttlJitter, Math.random());
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

function assertNever(effect: never): never {
  throw new Error(`cache: unknown effect ${JSON.stringify(effect)}`);
}
