import { expect } from 'chai';
import { replay, replayStats, type Cache, type CacheEvent } from '../../src/index.ts';

/**
 * The event-sourcing contract for one cache: its events replay to its
 * snapshot (with the cache's eviction policy, which a SIEVE snapshot shows by
 * its hand), and to its counters (the gauges aside).
 */
export function expectReplayMatches<V>(cache: Cache<V>, events: readonly CacheEvent<V>[], label = cache.name): void {
  const snapshot = cache.snapshot();
  const eviction = snapshot.sieveHand === undefined ? 'lru' : 'sieve';
  expect(replay(events, { eviction }), `replay(events) equals snapshot() (${label})`).to.deep.equal(snapshot);
  const { size: _size, entriesSize: _entriesSize, loadsInFlight: _inFlight, listenerErrors: _errors, link: _link, publishQueueDepth: _depth, peers: _peers, ...counters } = cache.stats();
  expect(replayStats(events), `replayStats(events) equals stats() (${label})`).to.deep.equal(counters);
}
