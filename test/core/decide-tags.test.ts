/**
 * Tags, namespaces (key prefixes) and soft invalidation, one decision at a
 * time: given these events, when this command, then these events and
 * effects; and what the fold makes of them.
 */
import { expect } from 'chai';
import type { Command, DecodedMessage } from '../../src/core/commands.ts';
import { decide, type Decision } from '../../src/core/decide.ts';
import type { CacheEvent, RemoteSource } from '../../src/core/events.ts';
import { evolve, stateAfter } from '../../src/core/evolve.ts';
import { snapshotOf } from '../../src/core/snapshot.ts';
import { DEFAULT_POLICY, type CacheState, type Policy } from '../../src/core/state.ts';

const POLICY: Policy = { ...DEFAULT_POLICY, name: 'config', instanceId: 'inst_self', staleIfError: 100, degradedTtl: 50 };

function given(events: CacheEvent<string>[], policy: Partial<Policy> = {}) {
  const state = stateAfter<string>({ ...POLICY, ...policy }, events);
  return {
    state,
    when: (command: Command<string>): Decision<string> => decide(state, command),
    /** Decides and folds the decision, as the shell does. */
    then: (command: Command<string>): CacheState<string> => {
      for (const event of decide(state, command).events) evolve(state, event);
      return state;
    },
  };
}

const tagged = (key: string, tags: string[], at = 0, expiresAt = 1_000): CacheEvent<string> => ({ type: 'stored', key, at, expiresAt, source: 'set', value: `v-${key}`, tags });
const stored = (key: string, at = 0, expiresAt = 1_000): CacheEvent<string> => ({ type: 'stored', key, at, expiresAt, source: 'set', value: `v-${key}` });
const started = (key: string, loadId: number, at: number): CacheEvent<string> => ({ type: 'load.started', key, at, loadId, ttl: 1_000, sync: false });
const read = (key: string, at: number): Command<string> => ({ type: 'read', key, at, ttl: 1_000, sync: false });
const settled = (key: string, loadId: number, at: number, tags?: string[]): Command<string> =>
  tags === undefined ? { type: 'load.settled', key, loadId, at, outcome: 'ok', value: 'new' } : { type: 'load.settled', key, loadId, at, outcome: 'ok', value: 'new', tags };
const failed = (key: string, loadId: number, at: number): Command<string> => ({ type: 'load.settled', key, loadId, at, outcome: 'error', error: new Error('down'), errorName: 'Error' });
const remote: RemoteSource = { instance: 'inst_peer', sentAt: 5 };
const message = (op: DecodedMessage['op'], keys: string[]): DecodedMessage => ({ ok: true, cache: 'config', op, legacy: false, keys, remote });

describe('decide: tags', () => {
  it('invalidateTag drops exactly the values carrying the tag, and the index forgets them', () => {
    const g = given([tagged('a', ['t', 'u']), tagged('b', ['t']), tagged('c', ['u']), stored('d')]);
    const decision = g.when({ type: 'invalidate', at: 10, scope: 'tag', tag: 't' });
    expect(decision).to.deep.equal({ events: [{ type: 'invalidated', scope: 'tag', tag: 't', at: 10, origin: 'local', reason: 'explicit' }], effects: [] });
    const snapshot = snapshotOf(g.then({ type: 'invalidate', at: 10, scope: 'tag', tag: 't' }));
    expect(snapshot.entries.filter((entry) => entry.live).map((entry) => entry.key)).to.deep.equal(['c', 'd']);
    expect(snapshot.tags).to.deep.equal([['u', ['c']]]);
  });

  it('a new value of a key replaces its tags; a value removed takes its tags along', () => {
    const state = stateAfter<string>(POLICY, [tagged('a', ['t']), tagged('a', ['u']), tagged('b', ['t']), { type: 'expired', key: 'b', at: 2 }]);
    expect(snapshotOf(state).tags).to.deep.equal([['u', ['a']]]);
    evolve(state, stored('a'));
    expect(snapshotOf(state).tags).to.equal(undefined);
  });

  it('publishes one tag invalidation when there are peers', () => {
    const connected: CacheEvent<string> = { type: 'link.changed', at: 0, state: 'connected', reason: 'connected', leaseUntil: 50 };
    expect(given([connected]).when({ type: 'invalidate', at: 1, scope: 'tag', tag: 't' }).effects).to.deep.equal([{ type: 'publish', scope: 'tag', tag: 't' }]);
  });

  it('fences a load that began before the tag invalidation and settles with the tag: its callers get the value, the cache does not keep it', () => {
    const g = given([started('k', 1, 0), { type: 'invalidated', scope: 'tag', tag: 't', at: 5, origin: 'remote', reason: 'explicit', remote }]);
    const decision = g.when(settled('k', 1, 10, ['t']));
    expect(decision.events.slice(1)).to.deep.equal([{ type: 'load.discarded', key: 'k', at: 10, loadId: 1, reason: 'invalidated' }]);
    expect(decision.effects).to.deep.equal([{ type: 'settle-load', loadId: 1, result: { kind: 'value', value: 'new' } }]);
  });

  it('stores a load settling without the tag, and a load that began after the invalidation', () => {
    const fence: CacheEvent<string> = { type: 'invalidated', scope: 'tag', tag: 't', at: 5, origin: 'local', reason: 'explicit' };
    expect(given([started('k', 1, 0), fence]).when(settled('k', 1, 10, ['u'])).events[1]).to.deep.include({ type: 'stored', tags: ['u'] });
    expect(given([started('k', 1, 0), fence, started('j', 2, 6)]).when(settled('j', 2, 10, ['t'])).events[1]).to.deep.include({ type: 'stored', tags: ['t'] });
  });

  it('a read after a tag invalidation never joins a load that began before it (its tags are not known yet)', () => {
    const g = given([started('k', 1, 0), { type: 'invalidated', scope: 'tag', tag: 't', at: 5, origin: 'local', reason: 'explicit' }]);
    expect(g.when(read('k', 6)).effects).to.deep.equal([{ type: 'start-load', key: 'k', loadId: 2, sync: false }]);
  });

  it('sweeps the fences no running load is old enough for, though loads are always in flight', () => {
    const state = stateAfter<string>(POLICY, [started('k1', 1, 0)]);
    for (let i = 2; i <= 2_000; i++) {
      evolve(state, started(`k${i}`, i, i));
      evolve(state, { type: 'invalidated', scope: 'tag', tag: `t${i}`, at: i, origin: 'remote', reason: 'explicit', remote });
      evolve(state, { type: 'loaded', key: `k${i - 1}`, at: i, loadId: i - 1, outcome: 'ok', durationMs: 1, waiters: 1, servedStale: false });
    }
    expect(state.loads.size).to.equal(1);
    expect(snapshotOf(state).tagFences?.length).to.be.below(512);
    // The one still running began before the last invalidation: still fenced by it.
    expect(state.tags.fences(2_000, ['t2000'])).to.equal(true);
  });

  it('forgets its fences once no load is in flight', () => {
    const state = stateAfter<string>(POLICY, [started('k', 1, 0), { type: 'invalidated', scope: 'tag', tag: 't', at: 5, origin: 'local', reason: 'explicit' }]);
    expect(snapshotOf(state).tagFences).to.deep.equal([['t', 1]]);
    evolve(state, { type: 'loaded', key: 'k', at: 6, loadId: 1, outcome: 'ok', durationMs: 6, waiters: 1, servedStale: false });
    expect(snapshotOf(state).tagFences).to.equal(undefined);
  });
});

describe('decide: soft invalidation (expire)', () => {
  it('makes the value stale at once: the next read misses and loads, and the value is kept', () => {
    const g = given([stored('k')]);
    g.then({ type: 'invalidate', at: 10, scope: 'key', key: 'k', soft: true });
    expect(snapshotOf(g.state).entries).to.deep.equal([{ key: 'k', live: true, value: 'v-k', expiresAt: 10, stale: true }]);
    const decision = g.when(read('k', 10));
    expect(decision.events.map((event) => event.type)).to.deep.equal(['miss', 'load.started']);
    expect(decision.events[0]).to.deep.include({ reason: 'expired' });
  });

  it('serves the stale value when its reload fails inside staleIfError, and not after', () => {
    const events: CacheEvent<string>[] = [stored('k'), { type: 'invalidated', scope: 'key', key: 'k', soft: true, at: 10, origin: 'local', reason: 'explicit' }, started('k', 1, 20)];
    expect(given(events).when(failed('k', 1, 50)).effects).to.deep.equal([{ type: 'settle-load', loadId: 1, result: { kind: 'value', value: 'v-k' } }]);
    expect(given(events).when(failed('k', 1, 110)).effects[0]).to.have.nested.property('result.kind', 'error');
    expect(given(events, { staleIfError: 0 }).when(failed('k', 1, 11)).effects[0]).to.have.nested.property('result.kind', 'error');
  });

  it('fences the loads of the key, like a hard invalidation', () => {
    const g = given([started('k', 1, 0), { type: 'invalidated', scope: 'key', key: 'k', soft: true, at: 5, origin: 'local', reason: 'explicit' }]);
    expect(g.when(settled('k', 1, 10)).events[1]).to.deep.equal({ type: 'load.discarded', key: 'k', at: 10, loadId: 1, reason: 'invalidated' });
  });

  it('expireTag stales the tagged values and keeps their tags (a later invalidateTag still drops them)', () => {
    const g = given([tagged('a', ['t']), tagged('b', ['u'])]);
    g.then({ type: 'invalidate', at: 10, scope: 'tag', tag: 't', soft: true });
    expect(snapshotOf(g.state).entries.map((entry) => [entry.key, entry.stale ?? false])).to.deep.equal([
      ['a', true],
      ['b', false],
    ]);
    g.then({ type: 'invalidate', at: 11, scope: 'tag', tag: 't' });
    expect(snapshotOf(g.state).entries.find((entry) => entry.key === 'a')?.live).to.equal(false);
  });
});

describe('decide: namespaces (prefix)', () => {
  it("drops only the keys under the prefix, nested ones included, and fences their loads only", () => {
    const g = given([stored('t1:a'), stored('t1:x:b'), stored('t2:a'), stored('t1'), started('t1:c', 1, 0), started('t2:c', 2, 0)]);
    g.then({ type: 'invalidate', at: 10, scope: 'prefix', prefix: 't1:' });
    expect(snapshotOf(g.state).entries.filter((entry) => entry.live).map((entry) => entry.key)).to.deep.equal(['t2:a', 't1']);
    expect(snapshotOf(g.state).loads.map((load) => [load.key, load.fencedBy])).to.deep.equal([
      ['t1:c', 'invalidated'],
      ['t2:c', undefined],
    ]);
  });
});

describe("decide: peers' scoped messages", () => {
  it('applies tag, expire, expire-tag and prefix messages as the matching invalidations', () => {
    const g = given([]);
    const events = (op: DecodedMessage['op'], keys: string[]) => g.when({ type: 'receive', at: 9, channel: 'c', message: message(op, keys) }).events.slice(1);
    const base = { at: 9, origin: 'remote', reason: 'explicit', remote } as const;
    expect(events('tag', ['t', 'u'])).to.deep.equal([
      { type: 'invalidated', scope: 'tag', tag: 't', ...base },
      { type: 'invalidated', scope: 'tag', tag: 'u', ...base },
    ]);
    expect(events('expire', ['k'])).to.deep.equal([{ type: 'invalidated', scope: 'key', key: 'k', soft: true, ...base }]);
    expect(events('expire-tag', ['t'])).to.deep.equal([{ type: 'invalidated', scope: 'tag', tag: 't', soft: true, ...base }]);
    expect(events('prefix', ['ns:'])).to.deep.equal([{ type: 'invalidated', scope: 'prefix', prefix: 'ns:', ...base }]);
  });

  it('an exact repair applies what the gap missed, soft ones hard (the gap used up the time a stale value may be kept)', () => {
    const policy = { logged: true };
    const connected: CacheEvent<string> = { type: 'link.changed', at: 0, state: 'connected', reason: 'connected', leaseUntil: 50 };
    const cursor: CacheEvent<string> = { type: 'resynced', at: 0, mode: 'full', cause: 'starting', head: { epoch: 'e1', seq: 5 }, missed: 0, keys: 0, dropped: 0, kept: 0 };
    const lost: CacheEvent<string> = { type: 'link.changed', at: 10, state: 'degraded', reason: 'connection-lost', since: 10, entriesExpireBy: 60 };
    const repair: CacheEvent<string> = { type: 'repair.started', at: 11, repairId: 1, reason: 'reconnected', after: { epoch: 'e1', seq: 5 } };
    const g = given([connected, cursor, tagged('a', ['t']), tagged('b', ['u']), stored('ns:c'), stored('k'), stored('z'), lost, repair], policy);
    const entries = [message('tag', ['t']), message('expire-tag', ['u']), message('prefix', ['ns:']), message('expire', ['k'])];
    const decision = g.when({ type: 'log.read', at: 12, repairId: 1, ok: true, epoch: 'e1', head: 9, covered: true, entries });
    expect(decision.events.find((event) => event.type === 'resynced')).to.deep.include({ mode: 'exact', missed: 4, dropped: 4 });
    for (const event of decision.events) evolve(g.state, event);
    expect(snapshotOf(g.state).entries.filter((entry) => entry.live).map((entry) => entry.key)).to.deep.equal(['z']);
  });
});
