/**
 * Every decision the cache makes, as a typed event. `decide` (decide.ts)
 * returns them, `evolve` (evolve.ts) folds them into the cache state and
 * nothing else writes it; stats, telemetry, the recorder and user listeners
 * are projections of the same stream.
 *
 * Every event carries `at`: the cache clock (ms, `Date.now()`-based) when it was
 * decided. `evolve` never reads a clock: time only travels inside events.
 */
import type { LogAdvancedEvent, LogPosition, RepairFailedEvent, RepairStartedEvent, ResyncedEvent } from './log-events.ts';
import type { CoherenceCheckEvent } from './coherence-events.ts';
import type { LoadReason, StaleServedEvent } from './stale-events.ts';
import type { InvalidatedEvent, MessageOp, RemoteSource } from './invalidation-events.ts';

export type * from './coherence-events.ts';
export type * from './invalidation-events.ts';

/** Why a read missed. */
export type MissReason = 'absent' | 'expired' | 'invalidated';

/** A read that found a fresh entry. The hot path folds it without allocating when nobody listens to hits. */
export interface HitEvent {
  readonly type: 'hit';
  readonly key: string;
  readonly at: number;
}

/** A read that found no fresh entry. */
export interface MissEvent {
  readonly type: 'miss';
  readonly key: string;
  readonly at: number;
  readonly reason: MissReason;
}

/** A loader call began; later callers for the same key join it (until an invalidation or a newer value fences it). */
export interface LoadStartedEvent {
  readonly type: 'load.started';
  readonly key: string;
  readonly at: number;
  readonly loadId: number;
  /** The ttl its value will be stored with. */
  readonly ttl: number;
  /** A `getSync` load: it runs at once and is never joined. */
  readonly sync: boolean;
  /** A background load no caller waits for (absent for a read's own load): see LoadReason. */
  readonly reason?: LoadReason;
  /** The per-call `staleWhileRevalidate` its value is stored with (absent: the cache's). */
  readonly staleWhileRevalidate?: number;
}

export type { LoadReason, StaleReason, StaleServedEvent } from './stale-events.ts';

/** A read joined the load in flight for its key instead of starting one. */
export interface LoadJoinedEvent {
  readonly type: 'load.joined';
  readonly key: string;
  readonly at: number;
  readonly loadId: number;
}

/** How a load ended for its callers. */
export type LoadOutcome = 'ok' | 'error';

/**
 * A load settled. `waiters` is how many `get` callers shared it (0 when they had
 * all given up through `loadTimeout`, or for a background load nobody joined). With outcome `ok` it is followed by
 * `stored` or `load.discarded`. `servedStale` says the callers got the expired
 * value (staleIfError) instead of the error.
 */
export interface LoadedEvent {
  readonly type: 'loaded';
  readonly key: string;
  readonly at: number;
  readonly loadId: number;
  readonly outcome: LoadOutcome;
  readonly durationMs: number;
  readonly waiters: number;
  readonly servedStale: boolean;
  /** The error's `name` (never its message: it may carry a value). */
  readonly errorName?: string;
}

/** A load outlived `loadTimeout`: its callers got a LoadTimeoutError; the loader keeps running. */
export interface LoadTimedOutEvent {
  readonly type: 'load.timedout';
  readonly key: string;
  readonly at: number;
  readonly loadId: number;
  readonly waiters: number;
  readonly servedStale: boolean;
}

/** A load's value was not stored because an invalidation or a newer write overtook it. */
export interface LoadDiscardedEvent {
  readonly type: 'load.discarded';
  readonly key: string;
  readonly at: number;
  readonly loadId: number;
  readonly reason: 'invalidated' | 'superseded';
}

/** Where a stored value came from. */
export type StoreSource = 'load' | 'set';

/**
 * A value entered the cache. The only event that carries a value: it stays in
 * process (recorder redacts it; telemetry never reads it).
 */
export interface StoredEvent<V = unknown> {
  readonly type: 'stored';
  readonly key: string;
  readonly at: number;
  readonly expiresAt: number;
  /** Its ttl's end, when the degraded bound set an earlier `expiresAt` (a repair that finds nothing missed restores it). */
  readonly ttlExpiresAt?: number;
  readonly source: StoreSource;
  readonly value: V;
  /** What `sizeOf` measured, with `maxSize` set (absent otherwise): the fold sums it. */
  readonly size?: number;
  /** With `refreshAhead`: a hit from then on starts one background reload. */
  readonly refreshAt?: number;
  /** Its own stale-if-error window (the loader set `ctx.staleIfError`), when it differs from the cache's. */
  readonly staleIfError?: number;
  /** Its own stale-while-revalidate window (set per call), when it differs from the cache's. */
  readonly staleWhileRevalidate?: number;
  /** Its tags (`{ tags }`, or the loader's `ctx.tags`), when it has any: the fold indexes them. */
  readonly tags?: readonly string[];
}

/**
 * A value was not stored because `sizeOf` measured it above `maxSize`. The
 * key's older value, if any, is dropped (it was overwritten), and the key's
 * loads in flight are fenced as by a store.
 */
export interface StoreRefusedEvent {
  readonly type: 'store.refused';
  readonly key: string;
  readonly at: number;
  readonly source: StoreSource;
  readonly size: number;
  readonly maxSize: number;
}

/** An entry was dropped because it outlived its ttl and its stale-if-error window. */
export interface ExpiredEvent {
  readonly type: 'expired';
  readonly key: string;
  readonly at: number;
}

/**
 * Why a slot was taken back: `capacity`, a value was pushed out by
 * `maxEntries`; `size`, by `maxSize`; `tombstone`, the slot only remembered
 * that its key had been invalidated (such slots always go before any value).
 */
export type EvictionReason = 'capacity' | 'size' | 'tombstone';

/**
 * A slot was taken back to make room for a new value, in the order of the
 * `eviction` policy (least recently used first; or SIEVE's hand).
 */
export interface EvictedEvent {
  readonly type: 'evicted';
  readonly key: string;
  readonly at: number;
  readonly reason: EvictionReason;
}

/** `clear()`: a local reset that forgets every entry and publishes nothing. */
export interface ClearedEvent {
  readonly type: 'cleared';
  readonly at: number;
}

/** Whether this instance hears other instances' invalidations. */
export type LinkState = 'connected' | 'degraded';

/**
 * Why the link changed: `connected` (the transport subscribed), `lease-renewed`
 * (this instance heard its own heartbeat again after its lease lapsed),
 * `connection-lost` (the transport dropped), `heartbeat-timeout` (it stopped
 * answering without dropping), `lease-expired` (no heartbeat of its own came
 * back through the channel in time), `closed` (the transport was closed),
 * `starting` (no connection yet at creation).
 */
export type LinkReason = 'connected' | 'lease-renewed' | 'connection-lost' | 'heartbeat-timeout' | 'lease-expired' | 'closed' | 'starting';

/**
 * The link to other instances changed. Connected, entries are served under a
 * lease (`leaseUntil`) that the instance's own heartbeats renew. Degraded, no
 * entry outlives `entriesExpireBy`, and values stored meanwhile live at most
 * degradedTtl past the later of their read and `since` (the last moment this
 * instance knew it heard everything). Coming back after a gap in which
 * messages may have been lost is followed by an `invalidated` of everything
 * (reason `resync`) when anything was cached.
 */
export interface LinkChangedEvent {
  readonly type: 'link.changed';
  readonly at: number;
  readonly state: LinkState;
  readonly reason: LinkReason;
  /** When connected: no entry is served at or after this time unless a heartbeat renews the lease. */
  readonly leaseUntil?: number;
  /** When degraded: the last moment this instance is known to have heard its channel. */
  readonly since?: number;
  /** When degraded: the latest expiry any entry may keep. */
  readonly entriesExpireBy?: number;
}

/**
 * This instance heard its own heartbeat, sent at `provenAt`, come back
 * through the channel: every message published before then has reached it, so
 * its entries may be served until `until` (provenAt + degradedTtl).
 */
export interface LeaseRenewedEvent {
  readonly type: 'lease.renewed';
  readonly at: number;
  readonly provenAt: number;
  readonly until: number;
}

/** Why a received message was refused (a fixed set: it becomes a metric label). */
export type MessageRejectReason =
  | 'too-large'
  | 'not-json'
  | 'bad-shape'
  | 'unknown-version'
  | 'too-many-keys'
  | 'bad-key'
  | 'unsigned'
  | 'bad-signature'
  | 'other-cache';

/** A message on the channel was malformed, oversized, of another version, unsigned, forged or for another cache. */
export interface MessageRejectedEvent {
  readonly type: 'message.rejected';
  readonly at: number;
  readonly reason: MessageRejectReason;
  /** A short description (at most a few dozen characters of the input). */
  readonly detail: string;
}

/** Invalidations were sent to the other instances; they leave the retry queue. */
export interface PublishedEvent {
  readonly type: 'published';
  readonly at: number;
  /** Messages sent (a batch of keys is split to respect the message limits). */
  readonly messages: number;
  /** Keys sent (empty for a clear). */
  readonly keys: readonly string[];
  readonly clear: boolean;
  /** W3C traceparent of the publish, when it was traced. */
  readonly traceparent?: string;
}

/** A publish failed; its keys wait in the retry queue (or, past its bound, one `clear` replaces them). */
export interface PublishFailedEvent {
  readonly type: 'publish.failed';
  readonly at: number;
  /** Keys that were not sent (empty for a clear). */
  readonly keys: readonly string[];
  readonly clear: boolean;
  /** The error's class name. */
  readonly errorName: string;
  /** The queue overflowed: a `clear` will be sent instead of the queued keys. */
  readonly overflowed: boolean;
  readonly traceparent?: string;
}

/**
 * A valid invalidation message from another instance arrived on the channel
 * (its `invalidated` events follow). Never emitted for the cache's own echo.
 */
export interface MessageReceivedEvent {
  readonly type: 'message.received';
  readonly at: number;
  readonly channel: string;
  /** `legacy`: the original module's format, from the legacy channel. */
  readonly format: 'v1' | 'legacy';
  readonly op: MessageOp;
  /** Keys, tags or prefixes it carried (0 for a clear). */
  readonly keys: number;
  /** Publisher, its clock and trace, shared by the `invalidated` events that follow. */
  readonly remote: RemoteSource;
  /** Its place in the channel's log, when the transport keeps one. */
  readonly position?: LogPosition;
}

/** `close()` could not deliver these invalidations within its deadline: they leave the retry queue, and `close()` rejects naming them. */
export interface PublishAbandonedEvent {
  readonly type: 'publish.abandoned';
  readonly at: number;
  readonly keys: readonly string[];
  readonly clear: boolean;
}

/**
 * Another instance was heard on the channel (its heartbeat or an
 * invalidation in the current format): it is live, and it speaks v1, so the
 * legacy copies of its invalidations are not applied a second time.
 */
export interface PeerHeardEvent {
  readonly type: 'peer.heard';
  readonly at: number;
  readonly instance: string;
  /** Its heartbeat carried no log position: it publishes without the log, so the log cannot cover a gap. */
  readonly unlogged?: true;
}

/** An instance was not heard for 2 × degradedTtl: it is no longer counted among the live peers. */
export interface PeerLostEvent {
  readonly type: 'peer.lost';
  readonly at: number;
  readonly instance: string;
}

export type { FullResyncCause, LogAdvancedEvent, LogPosition, RepairFailedEvent, RepairReason, RepairStartedEvent, ResyncedEvent } from './log-events.ts';

/** Every event the cache can emit. */
export type CacheEvent<V = unknown> =
  | HitEvent
  | MissEvent
  | LoadStartedEvent
  | LoadJoinedEvent
  | LoadedEvent
  | LoadTimedOutEvent
  | LoadDiscardedEvent
  | StaleServedEvent
  | StoredEvent<V>
  | StoreRefusedEvent
  | ExpiredEvent
  | EvictedEvent
  | InvalidatedEvent
  | ClearedEvent
  | LinkChangedEvent
  | LeaseRenewedEvent
  | PeerHeardEvent
  | PeerLostEvent
  | MessageRejectedEvent
  | MessageReceivedEvent
  | PublishedEvent
  | PublishFailedEvent
  | PublishAbandonedEvent
  | RepairStartedEvent
  | RepairFailedEvent
  | ResyncedEvent
  | LogAdvancedEvent
  | CoherenceCheckEvent;

export type CacheEventType = CacheEvent['type'];

/** The event of a given `type`. */
export type CacheEventOf<T extends CacheEventType, V = unknown> = Extract<CacheEvent<V>, { type: T }>;
