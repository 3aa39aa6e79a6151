/**
 * The cache state: everything a decision reads. Only `evolve` writes it, so
 * folding the events from `initialState()` rebuilds all of it: entries, loads
 * in flight with their fences and waiters, the link, and the retry queue.
 */
import { EntryTable } from './entry-table.ts';
import type { LinkState, LoadReason, RepairReason } from './events.ts';
import { TagIndex } from './tag-index.ts';

/** A load in flight, as the fold knows it. */
export interface LoadRecord {
  readonly loadId: number;
  readonly key: string;
  readonly startedAt: number;
  /** The ttl its value is stored with. */
  readonly ttl: number;
  readonly sync: boolean;
  /** Callers sharing it: the one that started it plus those that joined. */
  waiters: number;
  /** Set when an invalidation (`invalidated`) or a newer value (`superseded`) overtook the load: its value must not be stored, and nobody joins it. */
  fencedBy: 'invalidated' | 'superseded' | undefined;
  /** Its callers were answered with a timeout; the loader still runs. */
  timedOut: boolean;
  /** A background load (refresh-ahead, stale-while-revalidate): it started with no caller waiting. */
  readonly reason?: LoadReason;
  /** The per-call window its value is stored with. */
  readonly staleWhileRevalidate?: number;
}

/** Invalidations whose publish failed, waiting for a retry. */
export interface RetryQueue {
  readonly keys: Set<string>;
  /** A clear is owed (it covers every key, so `keys` is then empty). */
  clear: boolean;
}

/** Where this instance stands in its channel's log (only with a transport that keeps one). */
export interface LogCursor {
  readonly epoch: string;
  /** Every entry up to here has been applied. */
  applied: number;
  /** Entries received beyond `applied + 1` (a gap lies before them), so `applied` can move past them once the gap is filled. */
  readonly ahead: Set<number>;
}

/** A repair reading the log. */
export interface Repair {
  readonly repairId: number;
  readonly reason: RepairReason;
  /** When the gap it repairs was found. */
  readonly since: number;
  /** When its latest read was asked for: everything published before then is in what that read returns, so the lease after it counts from here. */
  readonly attemptAt: number;
  /** Its read is outstanding (false after it failed, until the next heartbeat tries again). */
  inFlight: boolean;
}

/**
 * Which value makes room when the cache is full: `lru`, the least recently
 * used; `sieve`, SIEVE (a hit only marks its entry; a hand sweeping from the
 * oldest entry spares marked ones once, clearing the mark), which keeps hot
 * keys through a scan that would flush an LRU.
 */
export type EvictionPolicy = 'lru' | 'sieve';
/** An acknowledged invalidation waiting for its peers. */
export interface AckWait {
  /** Peers that have not confirmed yet. */
  readonly awaiting: Set<string>;
  /** Peers lost while it waited (no longer waited for). */
  readonly lost: string[];
  /** When it was asked for: a lost peer may serve what it read before then until this + degradedTtl. */
  readonly requestedAt: number;
}

/** The settings decisions depend on (fixed for a cache's life). */
export interface Policy {
  /** The cache's name: messages for another cache are rejected. */
  readonly name: string;
  /** This instance's id: messages it sent itself are skipped. */
  readonly instanceId: string;
  readonly maxEntries: number;
  /** Most total `sizeOf` of the values kept (Infinity: no size bound). */
  readonly maxSize: number;
  /** The entry table is built for it (a hit is folded by the policy's rule), so a replay needs it too. */
  readonly eviction: EvictionPolicy;
  readonly staleIfError: number;
  /** How long after expiry a value is served while one background load revalidates it (0: never). */
  readonly staleWhileRevalidate: number;
  /** The fraction of its ttl after which a hit starts a background reload (0: never). */
  readonly refreshAhead: number;
  readonly loadTimeout: number | undefined;
  readonly degradedTtl: number;
  readonly maxQueuedKeys: number;
  readonly retryInterval: number;
  /** The transport keeps a log of the channel: a gap is repaired by reading it. */
  readonly logged: boolean;
}

/**
 * The moment after which a peer's invalidation may not have reached this
 * instance: connected, the last proof of its lease; degraded, when it was
 * last known to hear; never, without peers.
 */
export function unheardSince<V>(state: CacheState<V>): number {
  if (state.link === 'connected') return state.leaseUntil - state.policy.degradedTtl;
  if (state.link === 'degraded') return state.degradedSince ?? -Infinity;
  return Infinity;
}

export const DEFAULT_POLICY: Policy = Object.freeze({
  name: 'cache',
  instanceId: '',
  maxEntries: 10_000,
  maxSize: Infinity,
  eviction: 'lru',
  staleIfError: 0,
  staleWhileRevalidate: 0,
  refreshAhead: 0,
  loadTimeout: undefined,
  degradedTtl: 5_000,
  maxQueuedKeys: 10_000,
  retryInterval: 1_000,
  logged: false,
});

export interface CacheState<V> {
  readonly policy: Policy;
  readonly entries: EntryTable<V>;
  /** Which keys carry each tag, and the loads tag invalidations fenced. */
  readonly tags: TagIndex;
  /** `local`: no transport. Otherwise whether other instances' invalidations reach this one. */
  link: 'local' | LinkState;
  /**
   * No entry is served at or after this time (connected: the lease its own
   * heartbeats renew; +Infinity when local or degraded, where entries carry
   * their own capped expiries). The hit path checks it beside the expiry.
   */
  leaseUntil: number;
  /** While degraded: the last moment this instance is known to have heard its channel; the degraded bound counts from it. */
  degradedSince: number | undefined;
  /** Messages may have been lost since the link was last whole (a connection dropped, or it never connected): coming back drops everything. */
  gap: boolean;
  /** Loads in flight by key (usually one; more while a fenced or timed-out load still runs beside its successor). */
  readonly loads: Map<string, LoadRecord[]>;
  /** The highest load id handed out. */
  lastLoadId: number;
  readonly retryQueue: RetryQueue;
  /** Other instances heard on the channel, by instance id: when last heard. */
  readonly peers: Map<string, number>;
  /** Where this instance stands in the channel's log; undefined until a repair has read it. */
  log: LogCursor | undefined;
  /** The repair under way, if any. */
  repair: Repair | undefined;
  /** The highest repair id handed out. */
  lastRepairId: number;
  /** A message without a log position arrived since the last full resync: the log may not cover a gap, so the next repair is full. */
  unlogged: boolean;
  /** The link has been connected at least once (a first resync is not a recovery). */
  wasConnected: boolean;
  /** Acknowledged invalidations waiting for their peers, by request id. */
  readonly acks: Map<number, AckWait>;
  /** The highest request id handed out. */
  lastAckId: number;
  /** Confirmations owed to peers, held while a repair runs: the highest request of each, sent when it ends. */
  readonly owedAcks: Map<string, number>;
}

export function initialState<V>(policy: Policy = DEFAULT_POLICY): CacheState<V> {
  return {
    policy,
    entries: new EntryTable<V>(policy.eviction === 'sieve'),
    tags: new TagIndex(),
    link: 'local',
    leaseUntil: Infinity,
    degradedSince: undefined,
    gap: false,
    loads: new Map(),
    lastLoadId: 0,
    retryQueue: { keys: new Set(), clear: false },
    peers: new Map(),
    log: undefined,
    repair: undefined,
    lastRepairId: 0,
    unlogged: false,
    wasConnected: false,
    acks: new Map(),
    lastAckId: 0,
    owedAcks: new Map(),
  };
}

export function findLoad<V>(state: CacheState<V>, key: string, loadId: number): LoadRecord | undefined {
  return state.loads.get(key)?.find((load) => load.loadId === loadId);
}

/**
 * The load a read of `key` at `now` may share: the newest one, unless an
 * invalidation or a newer value fenced it, it timed out, or what it read is
 * already as old as the bound allows: a peer's write since max(its start, the
 * moment this instance may have stopped hearing) may have gone unheard.
 */
export function joinableLoad<V>(state: CacheState<V>, key: string, now: number): LoadRecord | undefined {
  const sameKey = state.loads.get(key);
  if (sameKey === undefined) return undefined;
  const newest = sameKey[sameKey.length - 1] as LoadRecord;
  if (newest.fencedBy !== undefined || newest.timedOut || newest.sync) return undefined;
  // A tag invalidated since it began may be among the tags it will settle with.
  if (newest.loadId <= state.tags.fencedThrough) return undefined;
  if (Math.max(newest.startedAt, unheardSince(state)) + state.policy.degradedTtl <= now) return undefined;
  return newest;
}

/** What waits for a retry: its keys, or 1 for a pending clear (which replaced them). */
export function retryQueueDepth<V>(state: CacheState<V>): number {
  return state.retryQueue.clear ? 1 : state.retryQueue.keys.size;
}

export function loadsInFlight<V>(state: CacheState<V>): number {
  let count = 0;
  for (const group of state.loads.values()) count += group.length;
  return count;
}

/** The slot of a live entry of `key` that is fresh at `now`, or -1. */
export function freshSlot<V>(state: CacheState<V>, key: string, now: number): number {
  const entries = state.entries;
  const slot = entries.slot(key);
  if (slot === undefined || !entries.isLive(slot) || entries.expiresAt(slot) <= now || now >= state.leaseUntil) return -1;
  return slot;
}

/**
 * The expired (or made stale) value of `key` still inside its stale-if-error window at `now`,
 * if any, and only while serving it keeps the bound: a peer's invalidation
 * sent after `unheardSince` may not have reached us, so not past that moment
 * + degradedTtl (a lapsed lease, or a link down for that long).
 */
export function staleValue<V>(state: CacheState<V>, key: string, now: number): { value: V } | undefined {
  if (now >= unheardSince(state) + state.policy.degradedTtl) return undefined;
  const entries = state.entries;
  const slot = entries.slot(key);
  if (slot === undefined || !entries.hasValue(slot)) return undefined;
  const expiresAt = entries.expiresAt(slot);
  const window = entries.windows(slot).staleIfError ?? state.policy.staleIfError;
  return (expiresAt <= now || entries.isStale(slot)) && now < expiresAt + window ? { value: entries.value(slot) } : undefined;
}
