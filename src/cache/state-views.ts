/** What `stats()` and `peers()` read off the state: the folded counters with the current gauges, and the peers heard. */
import { loadsInFlight, retryQueueDepth, type CacheState } from '../core/state.ts';
import type { CacheCounters } from '../projections/stats.ts';
import type { CacheStats } from './cache-types.ts';

export function statsOf<V>(state: CacheState<V>, counters: CacheCounters, listenerErrors: number): CacheStats {
  return {
    ...structuredClone(counters),
    size: state.entries.liveCount,
    entriesSize: state.entries.totalSize,
    loadsInFlight: loadsInFlight(state),
    listenerErrors,
    link: state.link,
    publishQueueDepth: retryQueueDepth(state),
    peers: state.peers.size,
  };
}

/** The other instances heard on the channel within 2 × degradedTtl (each announces itself with its heartbeats), by id, with when each was last heard. */
export function peersOf<V>(state: CacheState<V>): { readonly instance: string; readonly heardAt: number }[] {
  return [...state.peers].map(([instance, heardAt]) => ({ instance, heardAt })).sort((a, b) => (a.instance < b.instance ? -1 : 1));
}
