/**
 * `decide` under the bounds of issue 15, one policy at a time: given these
 * events, when this command, then these events. `maxSize` (sizes travel in
 * commands and `stored` events), and SIEVE's order of victims, which the fold
 * must follow (its hand and marks are rebuilt from the same events).
 */
import { expect } from 'chai';
import type { Command } from '../../src/core/commands.ts';
import { decide, type Decision } from '../../src/core/decide.ts';
import type { CacheEvent } from '../../src/core/events.ts';
import { evolve, stateAfter } from '../../src/core/evolve.ts';
import { replay, snapshotOf } from '../../src/core/snapshot.ts';
import { DEFAULT_POLICY, type Policy } from '../../src/core/state.ts';

const POLICY: Policy = { ...DEFAULT_POLICY, name: 'bounds', instanceId: 'inst_self', maxEntries: 3 };

function given(events: CacheEvent<string>[], policy: Partial<Policy> = {}) {
  const state = stateAfter<string>({ ...POLICY, ...policy }, events);
  return {
    when: (command: Command<string>): Decision<string> => decide(state, command),
    state,
  };
}

const stored = (key: string, size?: number): CacheEvent<string> =>
  size === undefined ? { type: 'stored', key, at: 0, expiresAt: 1_000, source: 'set', value: `v-${key}` } : { type: 'stored', key, at: 0, expiresAt: 1_000, source: 'set', value: `v-${key}`, size };
const hit = (key: string): CacheEvent<string> => ({ type: 'hit', key, at: 1 });
const set = (key: string, size?: number): Command<string> =>
  size === undefined ? { type: 'set', key, at: 5, ttl: 100, value: key.toUpperCase() } : { type: 'set', key, at: 5, ttl: 100, value: key.toUpperCase(), size };
const evictedKeys = (decision: Decision<string>): string[] => decision.events.flatMap((e) => (e.type === 'evicted' ? [`${e.key}:${e.reason}`] : []));

describe('decide: maxSize', () => {
  const sized = { maxEntries: 100, maxSize: 10 };

  it('a sized value is stored with its size', () => {
    expect(given([], sized).when(set('k', 4)).events).to.deep.equal([{ type: 'stored', key: 'k', at: 5, expiresAt: 105, source: 'set', value: 'K', size: 4 }]);
  });

  it('evicts least recently used values until the new one fits, with reason size', () => {
    const decision = given([stored('a', 4), stored('b', 3), stored('c', 3), hit('a')], sized).when(set('d', 5));
    expect(evictedKeys(decision)).to.deep.equal(['b:size', 'c:size']);
    expect(decision.events.at(-1)).to.deep.include({ type: 'stored', key: 'd', size: 5 });
  });

  it('a key written again counts its new size, not both, and is never its own victim', () => {
    expect(evictedKeys(given([stored('a', 4), stored('b', 6)], sized).when(set('b', 6)))).to.deep.equal([]);
    expect(evictedKeys(given([stored('b', 6), stored('a', 4)], sized).when(set('b', 7)))).to.deep.equal(['a:size']);
  });

  it('an invalidated slot frees no size: it is passed over', () => {
    const tombstone: CacheEvent<string> = { type: 'invalidated', scope: 'key', key: 'a', at: 1, origin: 'local', reason: 'explicit' };
    expect(evictedKeys(given([stored('a', 5), stored('b', 5), tombstone], sized).when(set('c', 9)))).to.deep.equal(['b:size']);
  });

  it('a full table evicts for capacity first, then for size', () => {
    const decision = given([stored('a', 1), stored('b', 1), stored('c', 7)], { maxEntries: 3, maxSize: 10 }).when(set('d', 9));
    expect(evictedKeys(decision)).to.deep.equal(['a:capacity', 'b:size', 'c:size']);
  });

  it('refuses a value larger than maxSize by itself, dropping the older value and fencing its loads', () => {
    const started: CacheEvent<string> = { type: 'load.started', key: 'k', at: 0, loadId: 1, ttl: 100, sync: false };
    const { when, state } = given([stored('k', 2), started], sized);
    const decision = when(set('k', 11));
    expect(decision.events).to.deep.equal([{ type: 'store.refused', key: 'k', at: 5, source: 'set', size: 11, maxSize: 10 }]);
    for (const event of decision.events) evolve(state, event);
    expect(state.entries.slot('k')).to.equal(undefined);
    expect(state.entries.totalSize).to.equal(0);
    expect(state.loads.get('k')?.[0]?.fencedBy).to.equal('superseded');
  });

  it('a load whose value is too large answers its callers and is not stored', () => {
    const started: CacheEvent<string> = { type: 'load.started', key: 'k', at: 0, loadId: 1, ttl: 100, sync: false };
    const decision = given([started], sized).when({ type: 'load.settled', at: 3, key: 'k', loadId: 1, outcome: 'ok', value: 'big', size: 50 });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['loaded', 'store.refused']);
    expect(decision.effects).to.deep.equal([{ type: 'settle-load', loadId: 1, result: { kind: 'value', value: 'big' } }]);
  });
});

describe('decide: SIEVE eviction', () => {
  const sieve = { eviction: 'sieve' as const };

  it('spares an entry hit since the hand passed, and evicts the oldest unvisited one', () => {
    expect(evictedKeys(given([stored('a'), stored('b'), stored('c'), hit('a')], sieve).when(set('d')))).to.deep.equal(['b:capacity']);
    // LRU, given the same history, evicts the same here; the difference is in what a hit moves.
    expect(evictedKeys(given([stored('a'), stored('b'), stored('c'), hit('a')]).when(set('d')))).to.deep.equal(['b:capacity']);
  });

  it('a hit does not move the entry: new keys queue behind it, and a scan never pushes out a visited key', () => {
    // a hot, then a scan of new keys: each evicts the newest scanned key before it, never a.
    const events: CacheEvent<string>[] = [stored('a'), hit('a'), stored('s1'), stored('s2')];
    const state = stateAfter<string>({ ...POLICY, ...sieve }, events);
    for (const key of ['s3', 's4', 's5', 's6']) {
      const decision = decide(state, set(key));
      expect(evictedKeys(decision)).to.not.include('a:capacity');
      for (const event of decision.events) evolve(state, event);
      events.push(...decision.events);
    }
    expect(state.entries.slot('a')).to.not.equal(undefined);
    // The hand and the marks it cleared are rebuilt by the fold.
    expect(replay(events, sieve)).to.deep.equal(snapshotOf(state));
  });

  it('when every entry was hit, the hand clears every mark and comes round to the oldest', () => {
    const decision = given([stored('a'), stored('b'), stored('c'), hit('a'), hit('b'), hit('c')], sieve).when(set('d'));
    expect(evictedKeys(decision)).to.deep.equal(['a:capacity']);
  });

  it('an invalidated slot still goes first', () => {
    const tombstone: CacheEvent<string> = { type: 'invalidated', scope: 'key', key: 'c', at: 1, origin: 'local', reason: 'explicit' };
    expect(evictedKeys(given([stored('a'), stored('b'), stored('c'), tombstone], sieve).when(set('d')))).to.deep.equal(['c:tombstone']);
  });

  it('evicts by size in the hand order too', () => {
    const decision = given([stored('a', 3), stored('b', 3), stored('c', 3), hit('a'), hit('c')], { ...sieve, maxEntries: 100, maxSize: 10 }).when(set('d', 5));
    expect(evictedKeys(decision)).to.deep.equal(['b:size', 'a:size']);
  });
});

describe('evolve: SIEVE', () => {
  it("a victim the hand reached marked, and took on its second round, leaves every mark cleared: the fold's walk goes round too", () => {
    const events: CacheEvent<string>[] = [stored('d'), stored('c'), hit('c'), hit('d')];
    const state = stateAfter<string>({ ...POLICY, maxEntries: 2, eviction: 'sieve' }, events);
    const decision = decide(state, set('a'));
    expect(evictedKeys(decision)).to.deep.equal(['d:capacity']);
    for (const event of decision.events) evolve(state, event);
    expect(snapshotOf(state).entries.map((entry) => [entry.key, entry.visited])).to.deep.equal([
      ['c', false],
      ['a', false],
    ]);
  });
});
