/**
 * The state as plain data, for tests and diagnosis. `replay(events)` folds
 * events from the initial state and renders it, so it equals the live cache's
 * `snapshot()` for the events that cache emitted.
 */
import type { CacheEvent, LinkState } from './events.ts';
import { fold } from './evolve.ts';
import { DEFAULT_POLICY, initialState, type CacheState, type EvictionPolicy } from './state.ts';

/** One entry as a snapshot shows it, least recently used first. */
export interface EntrySnapshot<V> {
  readonly key: string;
  /** `false` for an invalidated entry kept only to explain the next miss. */
  readonly live: boolean;
  readonly value: V | undefined;
  readonly expiresAt: number;
  /** Made stale by `expire` / `expireTag`: kept only for stale-if-error. */
  readonly stale?: true;
  /** What `sizeOf` measured (only with `maxSize`; 0 once invalidated). */
  readonly size?: number;
  /** SIEVE's mark: hit since the hand last passed (only with `eviction: 'sieve'`). */
  readonly visited?: boolean;
  /** With `refreshAhead`, until a hit starts its background reload. */
  readonly refreshAt?: number;
  /** Its own stale windows, where they differ from the cache's. */
  readonly staleIfError?: number;
  readonly staleWhileRevalidate?: number;
}

export interface LoadSnapshot {
  readonly loadId: number;
  readonly key: string;
  readonly startedAt: number;
  readonly ttl: number;
  readonly sync: boolean;
  readonly waiters: number;
  readonly fencedBy: 'invalidated' | 'superseded' | undefined;
  readonly timedOut: boolean;
  /** A background load's reason (absent for a read's own). */
  readonly reason?: 'refresh' | 'swr';
  readonly staleWhileRevalidate?: number;
}

/** The whole state as plain data. Values are included: a snapshot never leaves the process by itself. */
export interface CacheSnapshot<V> {
  readonly link: 'local' | LinkState;
  /** No entry is served at or after this time (null: no lease in force). */
  readonly leaseUntil: number | null;
  readonly degradedSince: number | undefined;
  readonly gap: boolean;
  readonly entries: readonly EntrySnapshot<V>[];
  readonly loads: readonly LoadSnapshot[];
  /** Other instances heard on the channel, sorted by id, with when each was last heard. */
  readonly peers: readonly { readonly instance: string; readonly heardAt: number }[];
  /** Keys waiting for a publish retry, sorted; `clear` when a clear is owed instead. */
  readonly retryQueue: { readonly keys: readonly string[]; readonly clear: boolean };
  /** Where it stands in the channel's log (with a transport that keeps one): applied through `seq`, and positions received past a gap. */
  readonly log: { readonly epoch: string; readonly seq: number; readonly ahead: readonly number[] } | undefined;
  /** The repair under way. */
  readonly repair: { readonly repairId: number; readonly reason: string; readonly since: number; readonly attemptAt: number; readonly inFlight: boolean } | undefined;
  /** A message without a log position arrived since the last full resync. */
  readonly unlogged: boolean;
  /** Acknowledged invalidations still waiting, by request id: the peers not heard from yet, and those lost meanwhile. */
  readonly acks: readonly { readonly requestId: number; readonly awaiting: readonly string[]; readonly lost: readonly string[] }[];
  /** Confirmations held while a repair runs, by peer (sorted). */
  readonly owedAcks: readonly { readonly to: string; readonly ack: number }[];
  /** With `eviction: 'sieve'`: the key SIEVE's hand examines next (null: the oldest). */
  readonly sieveHand?: string | null;
  /** With `maxSize` (once a value was stored): the sum of the entries' sizes. */
  readonly totalSize?: number;
  /** Once a tagged value was stored: each tag with the keys whose value carries it, sorted. */
  readonly tags?: readonly (readonly [tag: string, keys: readonly string[]])[];
  /** While a load a tag invalidation fenced may settle: each tag with the last load id it fenced. */
  readonly tagFences?: readonly (readonly [tag: string, throughLoadId: number])[];
}

/** The settings a replay must share with the cache it replays: those `evolve` reads. */
export interface ReplaySettings {
  /** The cache's `eviction` option (default `lru`). */
  readonly eviction?: EvictionPolicy | undefined;
}

export function snapshotOf<V>(state: CacheState<V>): CacheSnapshot<V> {
  return {
    link: state.link,
    leaseUntil: state.leaseUntil === Infinity ? null : state.leaseUntil,
    degradedSince: state.degradedSince,
    gap: state.gap,
    entries: [...state.entries.walk()],
    loads: [...state.loads.values()]
      .flat()
      .map((load) => ({ ...load }))
      .sort((a, b) => a.loadId - b.loadId),
    peers: [...state.peers].map(([instance, heardAt]) => ({ instance, heardAt })).sort((a, b) => (a.instance < b.instance ? -1 : 1)),
    retryQueue: { keys: [...state.retryQueue.keys].sort(), clear: state.retryQueue.clear },
    log: state.log === undefined ? undefined : { epoch: state.log.epoch, seq: state.log.applied, ahead: [...state.log.ahead].sort((a, b) => a - b) },
    repair: state.repair === undefined ? undefined : { ...state.repair },
    unlogged: state.unlogged,
    ...(state.entries.sieve ? { sieveHand: handKey(state) } : {}),
    ...(state.entries.sized ? { totalSize: state.entries.totalSize } : {}),
    owedAcks: [...state.owedAcks].map(([to, ack]) => ({ to, ack })).sort((a, b) => (a.to < b.to ? -1 : 1)),
    acks: [...state.acks].map(([requestId, wait]) => ({ requestId, awaiting: [...wait.awaiting].sort(), lost: [...wait.lost] })).sort((a, b) => a.requestId - b.requestId),
    ...tagsOf(state),
  };
}

function tagsOf<V>(state: CacheState<V>): Pick<CacheSnapshot<V>, 'tags' | 'tagFences'> {
  const { tags, fences } = state.tags.render();
  return { ...(tags.length > 0 ? { tags } : {}), ...(fences.length > 0 ? { tagFences: fences } : {}) };
}

function handKey<V>(state: CacheState<V>): string | null {
  const hand = state.entries.handSlot();
  return hand === -1 ? null : state.entries.key(hand);
}

/**
 * Folds `events` from the initial state and renders the result: what
 * `cache.snapshot()` shows after them, for a cache with these settings.
 */
export function replay<V>(events: Iterable<CacheEvent<V>>, settings: ReplaySettings = {}): CacheSnapshot<V> {
  const policy = { ...DEFAULT_POLICY, eviction: settings.eviction ?? DEFAULT_POLICY.eviction };
  return snapshotOf(fold(events, initialState<V>(policy)));
}
