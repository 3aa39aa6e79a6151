/**
 * The stats projection: monotonic counters folded from the event stream. It
 * only reads events (never state), so `replayStats(events)` equals what a live
 * cache reports. Telemetry reads these counters at collection time instead of
 * doing work per hit. A field is named after the event it counts (the rule and
 * its exceptions head src/telemetry/catalogue.ts).
 */
import type { CacheEvent, InvalidationOrigin, LoadReason, MessageRejectReason, MissReason, StaleReason, VerifyOutcome } from '../core/events.ts';

export interface CacheCounters {
  hits: number;
  misses: Record<MissReason, number>;
  /** Loads by how they ended for their callers. */
  loads: { ok: number; error: number; timeout: number };
  /** `load.started`, by reason: a read's own load (`miss`), or a background one (`refresh`: refreshAhead; `swr`: staleWhileRevalidate). */
  loadStarted: Record<'miss' | LoadReason, number>;
  /** `stale.served`: reads answered with an expired value, by reason (`swr`: while revalidating; `error`: staleIfError). */
  staleServed: Record<StaleReason, number>;
  /** `load.joined`: callers that joined a load already in flight instead of starting one. */
  loadJoined: number;
  /** `loaded` / `load.timedout` with `servedStale`: the callers got the expired value instead (staleIfError). */
  loadServedStale: number;
  /** `load.discarded`: load results not stored because an invalidation or a newer value overtook them. */
  loadDiscarded: number;
  stored: { load: number; set: number };
  expired: number;
  /** Values pushed out, by reason: `maxEntries` (capacity) or `maxSize` (size); reclaimed invalidation tombstones are not counted. */
  evicted: { capacity: number; size: number };
  /** `store.refused`: values not stored because `sizeOf` measured them above `maxSize`. */
  storeRefused: number;
  /** By origin and scope: a key, every key, a tag (`invalidateTag`, `expireTag`), a namespace's keys (`prefix`). */
  invalidated: Record<InvalidationOrigin, { key: number; all: number; tag: number; prefix: number }>;
  /** `invalidated` with `soft` (`expire`, `expireTag`): values made stale but kept for stale-if-error. */
  invalidatedSoft: Record<InvalidationOrigin, { key: number; tag: number }>;
  /** `resynced`: gaps repaired, by mode (exact from the log, or full). */
  resynced: { exact: number; full: number };
  /** `resynced.dropped`: live entries those repairs dropped, by mode. */
  resyncedDropped: { exact: number; full: number };
  /** `resynced.kept`: live entries exact repairs kept, each a load a full resync would have caused. */
  resyncedKept: number;
  /** `repair.failed`: log reads that failed (the next heartbeat tries again). */
  repairFailed: number;
  cleared: number;
  /** Invalidation messages sent, and the keys they carried. */
  published: { messages: number; keys: number };
  /** `publish.failed`: publishes that failed (their keys wait in the retry queue). */
  publishFailed: number;
  /** `publish.failed` with `overflowed`: times the retry queue overflowed into a `clear`. */
  publishOverflowed: number;
  /** `publish.abandoned`: invalidations close() could not deliver before its deadline (keys, or 1 for a clear). */
  publishAbandoned: number;
  /** `message.rejected`, by reason. */
  messageRejected: Record<MessageRejectReason, number>;
  /** `link.changed` to `degraded` (not at start): times the link to other instances was lost. */
  degradations: number;
  /** `ack.requested`: invalidations that asked every peer to confirm. */
  ackRequested: number;
  /** `ack.confirmed`: confirmations received (one per peer and request). */
  ackConfirmed: number;
  /** `ack.completed`: requests every awaited peer confirmed (or was lost meanwhile). */
  ackCompleted: number;
  /** `ack.timedout`: requests some peer did not confirm in time. */
  ackTimedout: number;
  /** `verified`, by outcome: sampled hits re-loaded that found no violation. */
  verified: Record<VerifyOutcome, number>;
  /** `coherence.violation`: sampled hits whose value the loader contradicts with no invalidation to explain it. */
  coherenceViolation: number;
}

export function zeroCounters(): CacheCounters {
  return {
    hits: 0,
    misses: { absent: 0, expired: 0, invalidated: 0 },
    loads: { ok: 0, error: 0, timeout: 0 },
    loadStarted: { miss: 0, refresh: 0, swr: 0 },
    staleServed: { swr: 0, error: 0 },
    loadJoined: 0,
    loadServedStale: 0,
    loadDiscarded: 0,
    stored: { load: 0, set: 0 },
    expired: 0,
    evicted: { capacity: 0, size: 0 },
    storeRefused: 0,
    invalidated: { local: { key: 0, all: 0, tag: 0, prefix: 0 }, remote: { key: 0, all: 0, tag: 0, prefix: 0 } },
    invalidatedSoft: { local: { key: 0, tag: 0 }, remote: { key: 0, tag: 0 } },
    resynced: { exact: 0, full: 0 },
    resyncedDropped: { exact: 0, full: 0 },
    resyncedKept: 0,
    repairFailed: 0,
    cleared: 0,
    published: { messages: 0, keys: 0 },
    publishFailed: 0,
    publishOverflowed: 0,
    publishAbandoned: 0,
    messageRejected: {
      'too-large': 0,
      'not-json': 0,
      'bad-shape': 0,
      'unknown-version': 0,
      'too-many-keys': 0,
      'bad-key': 0,
      unsigned: 0,
      'bad-signature': 0,
      'other-cache': 0,
    },
    degradations: 0,
    ackRequested: 0,
    ackConfirmed: 0,
    ackCompleted: 0,
    ackTimedout: 0,
    verified: { match: 0, explained: 0, error: 0 },
    coherenceViolation: 0,
  };
}

export class StatsProjection {
  readonly counters: CacheCounters = zeroCounters();
  /** Loads whose timeout was counted: their late end is not a second outcome (a background load may end with no waiter too). */
  private readonly timedOut = new Set<number>();

  /** The hit path's allocation-free equivalent of `apply({ type: 'hit', ... })`. */
  countHit(): void {
    this.counters.hits++;
  }

  apply(event: CacheEvent): void {
    const c = this.counters;
    switch (event.type) {
      case 'hit':
        c.hits++;
        return;
      case 'miss':
        c.misses[event.reason]++;
        return;
      case 'load.started':
        c.loadStarted[event.reason ?? 'miss']++;
        return;
      case 'stale.served':
        c.staleServed[event.reason] += event.reads;
        return;
      case 'message.received':
        return;
      case 'load.joined':
        c.loadJoined++;
        return;
      case 'loaded':
        // A load that timed out was counted then; its late end is not a second outcome.
        if (this.timedOut.delete(event.loadId)) return;
        c.loads[event.outcome]++;
        if (event.servedStale) c.loadServedStale++;
        return;
      case 'load.timedout':
        this.timedOut.add(event.loadId);
        c.loads.timeout++;
        if (event.servedStale) c.loadServedStale++;
        return;
      case 'load.discarded':
        c.loadDiscarded++;
        return;
      case 'stored':
        c.stored[event.source]++;
        return;
      case 'expired':
        c.expired++;
        return;
      case 'evicted':
        if (event.reason !== 'tombstone') c.evicted[event.reason]++;
        return;
      case 'store.refused':
        c.storeRefused++;
        return;
      case 'invalidated':
        c.invalidated[event.origin][event.scope]++;
        if ((event.scope === 'key' || event.scope === 'tag') && event.soft === true) c.invalidatedSoft[event.origin][event.scope]++;
        return;
      case 'resynced':
        c.resynced[event.mode]++;
        c.resyncedDropped[event.mode] += event.dropped;
        c.resyncedKept += event.kept;
        return;
      case 'repair.failed':
        c.repairFailed++;
        return;
      case 'cleared':
        c.cleared++;
        return;
      case 'link.changed':
        if (event.state === 'degraded' && event.reason !== 'starting') c.degradations++;
        return;
      case 'message.rejected':
        c.messageRejected[event.reason]++;
        return;
      case 'published':
        c.published.messages += event.messages;
        c.published.keys += event.keys.length;
        return;
      case 'publish.failed':
        c.publishFailed++;
        if (event.overflowed) c.publishOverflowed++;
        return;
      case 'publish.abandoned':
        c.publishAbandoned += event.clear ? 1 : event.keys.length;
        return;
      case 'ack.requested':
        c.ackRequested++;
        return;
      case 'ack.confirmed':
        c.ackConfirmed++;
        return;
      case 'ack.completed':
        c.ackCompleted++;
        return;
      case 'ack.timedout':
        c.ackTimedout++;
        return;
      case 'verified':
        c.verified[event.outcome]++;
        return;
      case 'coherence.violation':
        c.coherenceViolation++;
        return;
      case 'lease.renewed':
      case 'peer.heard':
      case 'peer.lost':
      case 'repair.started':
      case 'log.advanced':
      case 'ack.deferred':
        return;
      default:
        return assertNever(event);
    }
  }
}

export function replayStats(events: Iterable<CacheEvent>): CacheCounters {
  const projection = new StatsProjection();
  for (const event of events) projection.apply(event);
  return projection.counters;
}

function assertNever(event: never): never {
  throw new Error(`stats: unknown event ${JSON.stringify(event)}`);
}
