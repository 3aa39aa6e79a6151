/** The one decision every write shares, from `set` and from a load alike. */
import type { CacheEvent, StoreSource } from './events.ts';
import { unheardSince, type CacheState } from './state.ts';

/**
 * Storing a value: the least recently used slot makes room first when the
 * table is full, and while peers cannot reach us no value outlives the
 * degraded bound. `readAt` is when the value was read from its source (a
 * load's start; `at` for a set): a peer's write after max(readAt, the moment
 * the link was lost) may have gone unheard, so the value may be served at most
 * `degradedTtl` past that moment, however long its load took.
 */
export function storeEvents<V>(state: CacheState<V>, key: string, value: V, ttl: number, at: number, readAt: number, source: StoreSource): CacheEvent<V>[] {
  const entries = state.entries;
  const { policy } = state;
  const events: CacheEvent<V>[] = [];
  // Size first: the key lookup (costly in a big table) only matters when the table is full.
  if (entries.size >= policy.maxEntries && entries.slot(key) === undefined) {
    const victim = entries.leastRecentSlot();
    if (victim !== undefined) {
      events.push({ type: 'evicted', key: entries.key(victim), at, reason: entries.isLive(victim) ? 'capacity' : 'tombstone' });
    }
  }
  const ttlExpiresAt = at + ttl;
  // Connected, the lease bounds what is served; degraded, the value's own expiry must.
  const expiresAt = state.link === 'degraded' ? Math.min(ttlExpiresAt, Math.max(readAt, unheardSince(state)) + policy.degradedTtl) : ttlExpiresAt;
  events.push(expiresAt === ttlExpiresAt ? { type: 'stored', key, at, expiresAt, source, value } : { type: 'stored', key, at, expiresAt, ttlExpiresAt, source, value });
  return events;
}

