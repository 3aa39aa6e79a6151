/** The shapes the cache's calls take and return (options per call, stats, replies to commands). */
import type { CacheCounters } from '../projections/stats.ts';

/** Per-call options of `get`, `getSync` and `set`. */
export interface EntryOptions {
  /** This entry's ttl in ms, instead of the cache's. */
  ttl?: number;
  /** This entry's stale-while-revalidate window in ms, instead of the cache's (see the option). */
  staleWhileRevalidate?: number;
  /**
   * Tags of the value stored (by `set`, or by this read's load; the loader may
   * change them through `ctx.tags`): `invalidateTag(tag)` and `expireTag(tag)`
   * reach every value carrying the tag, on every instance. Ignored on a hit.
   */
  tags?: readonly string[];
}

/** What `stats()` returns: the folded counters plus the current gauges. */
export interface CacheStats extends CacheCounters {
  /** Entries holding a value (fresh or expired). */
  size: number;
  /** The sum of their sizes as `sizeOf` measured them (0 without maxSize). */
  entriesSize: number;
  /** Loads whose loader is still running. */
  loadsInFlight: number;
  /** Listener calls that threw (and were skipped). */
  listenerErrors: number;
  /** `local` without a transport; else whether this instance hears its peers. */
  link: 'local' | 'connected' | 'degraded';
  /** Keys waiting in the publish retry queue (1 for an owed clear). */
  publishQueueDepth: number;
  /** Other instances heard on the channel within 2 × degradedTtl. */
  peers: number;
}

/** What the caller of a command gets back (reads and invalidations have one). */
export type Reply<V> =
  | { readonly kind: 'value'; readonly value: V }
  | { readonly kind: 'promise'; readonly promise: Promise<V> }
  | { readonly kind: 'sent'; readonly promise: Promise<void> }
  | undefined;
