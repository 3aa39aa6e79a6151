/** The one decision every write shares, from `set` and from a load alike. */
import type { CacheEvent, StoreSource } from './events.ts';
import type { CacheState } from './state.ts';

/**
 * Storing a value: the least recently used slot makes room first when the
 * table is full, and while peers cannot reach us nothing lives longer than
 * `degradedTtl`.
 */
export function storeEvents<V>(state: CacheState<V>, key: string, value: V, ttl: number, at: number, source: StoreSource): CacheEvent<V>[] {
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
  const lifetime = state.link === 'degraded' ? Math.min(ttl, policy.degradedTtl) : ttl;
  events.push({ type: 'stored', key, at, expiresAt: at + lifetime, source, value });
  return events;
}

