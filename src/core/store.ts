/** The one decision every write shares, from `set` and from a load alike. */
import type { CacheEvent, StoreSource } from './events.ts';
import { unheardSince, type CacheState } from './state.ts';
import { victimsFor } from './victims.ts';

/**
 * Storing a value: when the table is full, or the sizes would pass `maxSize`,
 * the eviction policy's victims make room first (a value larger than
 * `maxSize` by itself is refused instead), and while peers cannot reach us no
 * value outlives the degraded bound. `readAt` is when the value was read from
 * its source (a load's start; `at` for a set): a peer's write after
 * max(readAt, the moment the link was lost) may have gone unheard, so the
 * value may be served at most `degradedTtl` past that moment, however long its
 * load took. `size` is what `sizeOf` measured, with `maxSize` set. `own`:
 * the entry's own stale windows (per call, or the loader's `ctx`); the event
 * carries those that differ from the cache's, and with `refreshAhead` the
 * moment a hit should start reloading it.
 */
export function storeEvents<V>(
  state: CacheState<V>,
  key: string,
  value: V,
  ttl: number,
  at: number,
  readAt: number,
  source: StoreSource,
  size: number | undefined,
  own?: { readonly staleIfError?: number | undefined; readonly staleWhileRevalidate?: number | undefined },
  tags?: readonly string[],
): CacheEvent<V>[] {
  const entries = state.entries;
  const { policy } = state;
  if (size !== undefined && size > policy.maxSize) return [{ type: 'store.refused', key, at, source, size, maxSize: policy.maxSize }];
  const events: CacheEvent<V>[] = [];
  // Size first: the key lookup (costly in a big table) only matters when the table is full or sized.
  const full = entries.size >= policy.maxEntries;
  if (full || size !== undefined) {
    const slot = entries.slot(key);
    const needSize = size === undefined ? 0 : entries.totalSize - (slot === undefined ? 0 : entries.sizeAt(slot)) + size - policy.maxSize;
    if ((full && slot === undefined) || needSize > 0) {
      for (const victim of victimsFor(entries, full && slot === undefined, needSize, slot)) {
        events.push({ type: 'evicted', key: entries.key(victim.slot), at, reason: victim.reason });
      }
    }
  }
  const ttlExpiresAt = at + ttl;
  // Connected, the lease bounds what is served; degraded, the value's own expiry must.
  const expiresAt = state.link === 'degraded' ? Math.min(ttlExpiresAt, Math.max(readAt, unheardSince(state)) + policy.degradedTtl) : ttlExpiresAt;
  const extra = {
    ...(size === undefined ? {} : { size }),
    ...(policy.refreshAhead === 0 ? {} : { refreshAt: at + ttl * policy.refreshAhead }),
    ...(own?.staleIfError === undefined || own.staleIfError === policy.staleIfError ? {} : { staleIfError: own.staleIfError }),
    ...(own?.staleWhileRevalidate === undefined || own.staleWhileRevalidate === policy.staleWhileRevalidate ? {} : { staleWhileRevalidate: own.staleWhileRevalidate }),
    ...(tags === undefined ? {} : { tags }),
  };
  events.push(expiresAt === ttlExpiresAt ? { type: 'stored', key, at, expiresAt, source, value, ...extra } : { type: 'stored', key, at, expiresAt, ttlExpiresAt, source, value, ...extra });
  return events;
}
