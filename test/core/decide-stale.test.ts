/**
 * `decide` for the loads of issue 15, one policy at a time: given these
 * events, when this command, then these events and effects.
 * Stale-while-revalidate, refresh-ahead, and what a loader decides (ctx.ttl,
 * ctx.staleIfError), which `stored` carries so a replay rebuilds it.
 */
import { expect } from 'chai';
import type { Command } from '../../src/core/commands.ts';
import { decide, type Decision } from '../../src/core/decide.ts';
import type { CacheEvent } from '../../src/core/events.ts';
import { stateAfter } from '../../src/core/evolve.ts';
import { replay, snapshotOf } from '../../src/core/snapshot.ts';
import { DEFAULT_POLICY, type Policy } from '../../src/core/state.ts';
import { replayStats } from '../../src/projections/stats.ts';

const POLICY: Policy = { ...DEFAULT_POLICY, name: 'loads', instanceId: 'inst_self', staleWhileRevalidate: 50, degradedTtl: 40 };

function given(events: CacheEvent<string>[], policy: Partial<Policy> = {}) {
  const state = stateAfter<string>({ ...POLICY, ...policy }, events);
  return { when: (command: Command<string>): Decision<string> => decide(state, command), state };
}

const stored = (key: string, expiresAt: number, extra: Partial<CacheEvent<string>> = {}): CacheEvent<string> =>
  ({ type: 'stored', key, at: 0, expiresAt, source: 'load', value: `v-${key}`, ...extra }) as CacheEvent<string>;
const read = (key: string, at: number, sync = false): Command<string> => ({ type: 'read', key, at, ttl: 100, sync });
const started = (key: string, loadId: number, at: number, reason?: 'refresh' | 'swr'): CacheEvent<string> =>
  reason === undefined ? { type: 'load.started', key, at, loadId, ttl: 100, sync: false } : { type: 'load.started', key, at, loadId, ttl: 100, sync: false, reason };
const invalidated = (key: string, at: number): CacheEvent<string> => ({ type: 'invalidated', scope: 'key', key, at, origin: 'local', reason: 'explicit' });
const background = (key: string, loadId: number) => ({ type: 'start-load', key, loadId, sync: false, background: true }) as const;

describe('decide: stale-while-revalidate', () => {
  it('an expired value inside its window answers the read at once, and one background load revalidates it', () => {
    expect(given([stored('k', 100)]).when(read('k', 120))).to.deep.equal({
      events: [
        { type: 'miss', key: 'k', at: 120, reason: 'expired' },
        { type: 'stale.served', key: 'k', at: 120, reason: 'swr', reads: 1 },
        { type: 'load.started', key: 'k', at: 120, loadId: 1, ttl: 100, sync: false, reason: 'swr' },
      ],
      effects: [{ type: 'serve', value: 'v-k' }, background('k', 1)],
    });
  });

  it('single flight: while a load of the key runs, a stale read starts none; its timeout is armed like any load', () => {
    expect(given([stored('k', 100), started('k', 1, 110, 'swr')]).when(read('k', 120)).effects).to.deep.equal([{ type: 'serve', value: 'v-k' }]);
    expect(given([stored('k', 100)], { loadTimeout: 30 }).when(read('k', 120)).effects).to.deep.equal([
      { type: 'serve', value: 'v-k' },
      { type: 'arm-load-timeout', key: 'k', loadId: 1, afterMs: 30 },
      background('k', 1),
    ]);
  });

  it('a fenced load does not count as in flight: an invalidation or a newer value overtook it', () => {
    const decision = given([stored('k', 100), started('k', 1, 105, 'swr'), { type: 'stored', key: 'k', at: 106, expiresAt: 110, source: 'set', value: 'newer' }]).when(read('k', 120));
    expect(decision.effects).to.deep.equal([{ type: 'serve', value: 'newer' }, background('k', 2)]);
  });

  it('never serves an invalidated value, nor one past its window (dropped as expired), nor to getSync', () => {
    expect(given([stored('k', 100), invalidated('k', 110)]).when(read('k', 120)).effects).to.deep.equal([{ type: 'start-load', key: 'k', loadId: 1, sync: false }]);
    expect(given([stored('k', 100)]).when(read('k', 150)).events.slice(0, 2)).to.deep.equal([
      { type: 'expired', key: 'k', at: 150 },
      { type: 'miss', key: 'k', at: 150, reason: 'expired' },
    ]);
    expect(given([stored('k', 100)]).when(read('k', 120, true)).effects).to.deep.equal([{ type: 'start-load', key: 'k', loadId: 1, sync: true }]);
  });

  it('keeps the staleness bound: not past a lapsed lease, nor degradedTtl after the link was lost', () => {
    const connected: CacheEvent<string> = { type: 'link.changed', at: 0, state: 'connected', reason: 'connected', leaseUntil: 40 };
    expect(given([connected, stored('k', 30)]).when(read('k', 35)).effects[0]).to.deep.equal({ type: 'serve', value: 'v-k' });
    expect(given([connected, stored('k', 30)]).when(read('k', 40)).effects[0]).to.deep.include({ type: 'start-load' });
    const degraded: CacheEvent<string> = { type: 'link.changed', at: 90, state: 'degraded', reason: 'connection-lost', since: 90, entriesExpireBy: 130 };
    expect(given([stored('k', 100), degraded]).when(read('k', 129)).effects[0]).to.deep.equal({ type: 'serve', value: 'v-k' });
    expect(given([stored('k', 100), degraded]).when(read('k', 130)).effects[0]).to.deep.include({ type: 'start-load' });
  });

  it("an entry's own window (set per call) wins over the cache's; the stored event carries it and the read's load passes it on", () => {
    expect(given([stored('k', 100, { staleWhileRevalidate: 5 })]).when(read('k', 110)).events[0]).to.deep.equal({ type: 'expired', key: 'k', at: 110 });
    expect(given([stored('k', 100, { staleWhileRevalidate: 500 })], { staleWhileRevalidate: 0 }).when(read('k', 400)).events[1]).to.deep.include({ type: 'stale.served' });
    const perCall = given([], { staleWhileRevalidate: 0 }).when({ type: 'read', key: 'k', at: 0, ttl: 100, sync: false, staleWhileRevalidate: 20 });
    expect(perCall.events[1]).to.deep.equal({ type: 'load.started', key: 'k', at: 0, loadId: 1, ttl: 100, sync: false, staleWhileRevalidate: 20 });
    const settled = given([perCall.events[1] as CacheEvent<string>], { staleWhileRevalidate: 0 }).when({ type: 'load.settled', at: 10, key: 'k', loadId: 1, outcome: 'ok', value: 'V' });
    expect(settled.events[1]).to.deep.equal({ type: 'stored', key: 'k', at: 10, expiresAt: 110, source: 'load', value: 'V', staleWhileRevalidate: 20 });
  });

  it('a background load that fails answers nobody and serves nothing stale; a caller who joined it gets the stale-if-error value', () => {
    const failure: Command<string> = { type: 'load.settled', at: 130, key: 'k', loadId: 1, outcome: 'error', error: new Error('down'), errorName: 'Error' };
    const alone = given([stored('k', 100), started('k', 1, 120, 'swr')], { staleIfError: 100 }).when(failure);
    expect(alone.events).to.deep.equal([{ type: 'loaded', key: 'k', at: 130, loadId: 1, outcome: 'error', durationMs: 10, waiters: 0, servedStale: false, errorName: 'Error' }]);
    const joined = given([stored('k', 100), started('k', 1, 120, 'swr'), { type: 'load.joined', key: 'k', at: 125, loadId: 1 }], { staleIfError: 100 }).when(failure);
    expect(joined.events[1]).to.deep.equal({ type: 'stale.served', key: 'k', at: 130, reason: 'error', reads: 1 });
  });
});

describe('decide: refresh-ahead', () => {
  const ahead = { refreshAhead: 0.8, staleWhileRevalidate: 0 };

  it('a value is stored with its refresh time, a fraction of its ttl after it is stored', () => {
    expect(given([], ahead).when({ type: 'set', key: 'k', at: 10, ttl: 100, value: 'V' }).events).to.deep.equal([
      { type: 'stored', key: 'k', at: 10, expiresAt: 110, source: 'set', value: 'V', refreshAt: 90 },
    ]);
  });

  it('a hit before it only serves; a hit from then on serves and starts one background reload', () => {
    const state = [stored('k', 100, { refreshAt: 80 })];
    expect(given(state, ahead).when(read('k', 79))).to.deep.equal({ events: [{ type: 'hit', key: 'k', at: 79 }], effects: [{ type: 'serve', value: 'v-k' }] });
    expect(given(state, ahead).when(read('k', 80))).to.deep.equal({
      events: [
        { type: 'hit', key: 'k', at: 80 },
        { type: 'load.started', key: 'k', at: 80, loadId: 1, ttl: 100, sync: false, reason: 'refresh' },
      ],
      effects: [{ type: 'serve', value: 'v-k' }, background('k', 1)],
    });
    // getSync never refreshes: a sync loader cannot run in the background.
    expect(given(state, ahead).when(read('k', 80, true)).effects).to.deep.equal([{ type: 'serve', value: 'v-k' }]);
  });

  it('once a reload started, later hits start none (the fold clears the refresh time: the hit fast path stays one comparison)', () => {
    const { state, when } = given([stored('k', 100, { refreshAt: 80 }), started('k', 1, 80, 'refresh')], ahead);
    expect(when(read('k', 90)).effects).to.deep.equal([{ type: 'serve', value: 'v-k' }]);
    expect(snapshotOf(state).entries[0]).to.not.have.property('refreshAt');
  });

  it('the reload is fenced like any load: an invalidation keeps its value out', () => {
    const decision = given([stored('k', 100, { refreshAt: 80 }), started('k', 1, 80, 'refresh'), invalidated('k', 85)], ahead).when({
      type: 'load.settled',
      at: 95,
      key: 'k',
      loadId: 1,
      outcome: 'ok',
      value: 'V2',
    });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['loaded', 'load.discarded']);
    expect(decision.effects).to.deep.equal([{ type: 'settle-load', loadId: 1, result: { kind: 'value', value: 'V2' } }]);
  });
});

describe('decide: the loader decides', () => {
  it("ctx.ttl sets the value's expiry (and refresh time); ctx.staleIfError its own window, which a later failure honours", () => {
    const events: CacheEvent<string>[] = [started('k', 1, 0)];
    const settled = given(events, { refreshAhead: 0.5 }).when({ type: 'load.settled', at: 10, key: 'k', loadId: 1, outcome: 'ok', value: 'V', ttl: 1_000, staleIfError: 300 });
    expect(settled.events[1]).to.deep.equal({ type: 'stored', key: 'k', at: 10, expiresAt: 1_010, source: 'load', value: 'V', refreshAt: 510, staleIfError: 300 });
    events.push(...settled.events, started('k', 2, 1_100));
    const failed = given(events, { staleWhileRevalidate: 0 }).when({ type: 'load.settled', at: 1_200, key: 'k', loadId: 2, outcome: 'error', error: new Error('down'), errorName: 'Error' });
    expect(failed.effects).to.deep.equal([{ type: 'settle-load', loadId: 2, result: { kind: 'value', value: 'V' } }]);
  });
});

describe('replay and stats of the loads of issue 15', () => {
  it('replay rebuilds refresh times and own windows; stats count loads by reason and stale reads by reason', () => {
    const events: CacheEvent<string>[] = [
      stored('a', 100, { refreshAt: 80, staleIfError: 7 }),
      stored('b', 100, { staleWhileRevalidate: 9 }),
      started('a', 1, 85, 'refresh'),
      started('b', 2, 120, 'swr'),
      { type: 'stale.served', key: 'b', at: 120, reason: 'swr', reads: 1 },
      { type: 'loaded', key: 'b', at: 130, loadId: 2, outcome: 'ok', durationMs: 10, waiters: 0, servedStale: false },
      { type: 'stale.served', key: 'b', at: 131, reason: 'error', reads: 3 },
    ];
    const snapshot = replay(events);
    expect(snapshot.entries.map((e) => [e.key, e.refreshAt, e.staleIfError, e.staleWhileRevalidate])).to.deep.equal([
      ['a', undefined, 7, undefined],
      ['b', undefined, undefined, 9],
    ]);
    expect(snapshot.loads.map((l) => [l.loadId, l.reason, l.waiters])).to.deep.equal([[1, 'refresh', 0]]);
    const stats = replayStats(events);
    expect(stats.loadStarted).to.deep.equal({ miss: 0, refresh: 1, swr: 1 });
    expect(stats.staleServed).to.deep.equal({ swr: 1, error: 3 });
    // A background load that ends with no waiter is still an outcome (only a timed-out load's late end is not).
    expect(stats.loads.ok).to.equal(1);
  });
});
