/**
 * `decide`, one policy at a time: given these events (folded from the initial
 * state), when this command, then these events and effects.
 */
import { expect } from 'chai';
import type { Command } from '../../src/core/commands.ts';
import { decide, type Decision } from '../../src/core/decide.ts';
import type { CacheEvent, RemoteSource } from '../../src/core/events.ts';
import { stateAfter } from '../../src/core/evolve.ts';
import { DEFAULT_POLICY, type Policy } from '../../src/core/state.ts';

const POLICY: Policy = { ...DEFAULT_POLICY, name: 'config', instanceId: 'inst_self', maxEntries: 2, staleIfError: 100, degradedTtl: 50, maxQueuedKeys: 2, retryInterval: 20 };

function given(events: CacheEvent<string>[], policy: Partial<Policy> = {}) {
  const state = stateAfter<string>({ ...POLICY, ...policy }, events);
  return {
    when: (command: Command<string>): Decision<string> => decide(state, command),
  };
}

const stored = (key: string, at: number, expiresAt: number, value = `v-${key}`): CacheEvent<string> => ({ type: 'stored', key, at, expiresAt, source: 'set', value });
const started = (key: string, loadId: number, at: number, sync = false): CacheEvent<string> => ({ type: 'load.started', key, at, loadId, ttl: 1_000, sync });
const connected = (at: number): CacheEvent<string> => ({ type: 'link.changed', at, state: 'connected', reason: 'connected', leaseUntil: at + POLICY.degradedTtl });
const degraded = (at: number): CacheEvent<string> => ({ type: 'link.changed', at, state: 'degraded', reason: 'connection-lost', since: at, entriesExpireBy: at + POLICY.degradedTtl });
const read = (key: string, at: number, sync = false): Command<string> => ({ type: 'read', key, at, ttl: 1_000, sync });
const remote: RemoteSource = { instance: 'inst_peer', sentAt: 90 };

describe('decide: reads', () => {
  it('a fresh entry is a hit that serves its value', () => {
    expect(given([stored('k', 0, 100)]).when(read('k', 50))).to.deep.equal({
      events: [{ type: 'hit', key: 'k', at: 50 }],
      effects: [{ type: 'serve', value: 'v-k' }],
    });
  });

  it('a miss says why, and starts a load with the next load id', () => {
    const absent = given([started('x', 4, 0)]).when(read('k', 10));
    expect(absent.events).to.deep.equal([
      { type: 'miss', key: 'k', at: 10, reason: 'absent' },
      { type: 'load.started', key: 'k', at: 10, loadId: 5, ttl: 1_000, sync: false },
    ]);
    expect(absent.effects).to.deep.equal([{ type: 'start-load', key: 'k', loadId: 5, sync: false }]);
    expect(given([stored('k', 0, 100), { type: 'invalidated', scope: 'key', key: 'k', at: 1, origin: 'local', reason: 'explicit' }]).when(read('k', 10)).events[0]).to.deep.include({ reason: 'invalidated' });
    expect(given([stored('k', 0, 100)]).when(read('k', 150)).events[0]).to.deep.include({ type: 'miss', reason: 'expired' });
  });

  it('an expired entry past its stale-if-error window is dropped before the miss', () => {
    expect(given([stored('k', 0, 100)]).when(read('k', 200)).events.slice(0, 2)).to.deep.equal([
      { type: 'expired', key: 'k', at: 200 },
      { type: 'miss', key: 'k', at: 200, reason: 'expired' },
    ]);
  });

  it('joins the load in flight for the key', () => {
    expect(given([started('k', 1, 0)]).when(read('k', 5))).to.deep.equal({
      events: [
        { type: 'miss', key: 'k', at: 5, reason: 'absent' },
        { type: 'load.joined', key: 'k', at: 5, loadId: 1 },
      ],
      effects: [{ type: 'join-load', key: 'k', loadId: 1 }],
    });
  });

  it('never joins a load an invalidation, invalidateAll, a remote invalidation or a newer value fenced', () => {
    const fences: CacheEvent<string>[] = [
      { type: 'invalidated', scope: 'key', key: 'k', at: 1, origin: 'local', reason: 'explicit' },
      { type: 'invalidated', scope: 'all', at: 1, origin: 'local', reason: 'explicit' },
      { type: 'invalidated', scope: 'key', key: 'k', at: 1, origin: 'remote', reason: 'explicit', remote },
      { type: 'stored', key: 'k', at: 1, expiresAt: 2, source: 'set', value: 'newer' },
    ];
    for (const fence of fences) {
      const decision = given([started('k', 1, 0), fence]).when(read('k', 5));
      expect(decision.effects, fence.type).to.deep.equal([{ type: 'start-load', key: 'k', loadId: 2, sync: false }]);
    }
  });

  it('never joins a load that timed out, nor a getSync load, and getSync never joins', () => {
    const timedOut: CacheEvent<string> = { type: 'load.timedout', key: 'k', at: 1, loadId: 1, waiters: 1, servedStale: false };
    expect(given([started('k', 1, 0), timedOut]).when(read('k', 5)).effects[0]).to.deep.include({ type: 'start-load' });
    expect(given([started('k', 1, 0, true)]).when(read('k', 5)).effects[0]).to.deep.include({ type: 'start-load' });
    expect(given([started('k', 1, 0)]).when(read('k', 5, true)).effects).to.deep.equal([{ type: 'start-load', key: 'k', loadId: 2, sync: true }]);
  });

  it('while degraded, never joins a load whose value is already as old as degradedTtl allows', () => {
    expect(given([started('k', 1, 0), degraded(10)]).when(read('k', 59)).effects[0]).to.deep.include({ type: 'join-load' });
    expect(given([started('k', 1, 0), degraded(10)]).when(read('k', 60)).effects[0]).to.deep.include({ type: 'start-load' });
  });

  it('arms the load timeout before starting the loader', () => {
    expect(given([], { loadTimeout: 30 }).when(read('k', 0)).effects).to.deep.equal([
      { type: 'arm-load-timeout', key: 'k', loadId: 1, afterMs: 30 },
      { type: 'start-load', key: 'k', loadId: 1, sync: false },
    ]);
  });
});

describe('decide: writes', () => {
  it('a set stores with its ttl; a full table evicts its least recent slot first', () => {
    expect(given([stored('a', 0, 1_000), stored('b', 0, 1_000)]).when({ type: 'set', key: 'c', at: 5, ttl: 100, value: 'C' }).events).to.deep.equal([
      { type: 'evicted', key: 'a', at: 5, reason: 'capacity' },
      { type: 'stored', key: 'c', at: 5, expiresAt: 105, source: 'set', value: 'C' },
    ]);
    const tombstone: CacheEvent<string> = { type: 'invalidated', scope: 'key', key: 'b', at: 1, origin: 'local', reason: 'explicit' };
    expect(given([stored('a', 0, 1_000), stored('b', 0, 1_000), tombstone]).when({ type: 'set', key: 'c', at: 5, ttl: 100, value: 'C' }).events[0]).to.deep.equal({
      type: 'evicted',
      key: 'b',
      at: 5,
      reason: 'tombstone',
    });
  });

  it('while degraded, a value lives at most degradedTtl past max(when it was read, when the link was lost)', () => {
    const setWhileDegraded = given([degraded(10)]).when({ type: 'set', key: 'k', at: 30, ttl: 1_000, value: 'V' });
    expect(setWhileDegraded.events[0]).to.deep.include({ expiresAt: 80 });
    // A load that began before the link was lost: its value counts from the loss.
    const early = given([started('k', 1, 0), degraded(10)]).when({ type: 'load.settled', at: 40, key: 'k', loadId: 1, outcome: 'ok', value: 'V' });
    expect(early.events[1]).to.deep.include({ type: 'stored', expiresAt: 60 });
    // One that began after: from its start.
    const late = given([degraded(10), started('k', 1, 20)]).when({ type: 'load.settled', at: 40, key: 'k', loadId: 1, outcome: 'ok', value: 'V' });
    expect(late.events[1]).to.deep.include({ type: 'stored', expiresAt: 70 });
  });
});

describe('decide: settled loads', () => {
  it('stores a loaded value and answers its callers', () => {
    const decision = given([started('k', 1, 0), { type: 'load.joined', key: 'k', at: 1, loadId: 1 }]).when({ type: 'load.settled', at: 10, key: 'k', loadId: 1, outcome: 'ok', value: 'V' });
    expect(decision.events).to.deep.equal([
      { type: 'loaded', key: 'k', at: 10, loadId: 1, outcome: 'ok', durationMs: 10, waiters: 2, servedStale: false },
      { type: 'stored', key: 'k', at: 10, expiresAt: 1_010, source: 'load', value: 'V' },
    ]);
    expect(decision.effects).to.deep.equal([{ type: 'settle-load', loadId: 1, result: { kind: 'value', value: 'V' } }]);
  });

  it("discards a fenced load's value but still answers its callers with it", () => {
    const fence: CacheEvent<string> = { type: 'invalidated', scope: 'key', key: 'k', at: 1, origin: 'local', reason: 'explicit' };
    const decision = given([started('k', 1, 0), fence]).when({ type: 'load.settled', at: 10, key: 'k', loadId: 1, outcome: 'ok', value: 'old' });
    expect(decision.events[1]).to.deep.equal({ type: 'load.discarded', key: 'k', at: 10, loadId: 1, reason: 'invalidated' });
    expect(decision.effects).to.deep.equal([{ type: 'settle-load', loadId: 1, result: { kind: 'value', value: 'old' } }]);
  });

  it('an error serves the expired value inside the stale-if-error window, else reaches the callers; it is never stored', () => {
    const failure = (at: number): Command<string> => ({ type: 'load.settled', at, key: 'k', loadId: 1, outcome: 'error', error: new Error('down'), errorName: 'Error' });
    const stale = given([stored('k', 0, 100), started('k', 1, 150)]).when(failure(160));
    expect(stale.events).to.deep.equal([
      { type: 'loaded', key: 'k', at: 160, loadId: 1, outcome: 'error', durationMs: 10, waiters: 1, servedStale: true, errorName: 'Error' },
      { type: 'stale.served', key: 'k', at: 160, reason: 'error', reads: 1 },
    ]);
    expect(stale.effects).to.deep.equal([{ type: 'settle-load', loadId: 1, result: { kind: 'value', value: 'v-k' } }]);
    const past = given([stored('k', 0, 100), started('k', 1, 150)]).when(failure(250));
    expect((past.effects[0] as { result: { kind: string } }).result.kind).to.equal('error');
    // Degraded (or with a lapsed lease), stale only within degradedTtl of the last moment it heard everything.
    const degradedSoon = given([stored('k', 0, 100), degraded(120), started('k', 1, 150)]).when(failure(160));
    expect((degradedSoon.effects[0] as { result: { kind: string } }).result.kind).to.equal('value');
    const degradedLong = given([stored('k', 0, 100), degraded(120), started('k', 1, 150)]).when(failure(170));
    expect((degradedLong.effects[0] as { result: { kind: string } }).result.kind).to.equal('error');
    const lapsed = given([connected(0), stored('k', 0, 30), started('k', 1, 40)]).when(failure(50));
    expect((lapsed.effects[0] as { result: { kind: string } }).result.kind, 'past the lease').to.equal('error');
  });

  it('a timeout answers the callers (stale or a timeout) and aborts; the late outcome answers nobody', () => {
    const timeout = given([started('k', 1, 0)], { loadTimeout: 30 }).when({ type: 'load.timeout', at: 30, key: 'k', loadId: 1 });
    expect(timeout.events).to.deep.equal([{ type: 'load.timedout', key: 'k', at: 30, loadId: 1, waiters: 1, servedStale: false }]);
    expect(timeout.effects).to.deep.equal([
      { type: 'settle-load', loadId: 1, result: { kind: 'timeout', afterMs: 30 } },
      { type: 'abort-load', key: 'k', loadId: 1 },
    ]);
    const timedOut: CacheEvent<string> = { type: 'load.timedout', key: 'k', at: 30, loadId: 1, waiters: 1, servedStale: false };
    const late = given([started('k', 1, 0), timedOut]).when({ type: 'load.settled', at: 40, key: 'k', loadId: 1, outcome: 'ok', value: 'V' });
    expect(late.events[0]).to.deep.include({ type: 'loaded', waiters: 0 });
    expect(late.events[1]).to.deep.include({ type: 'stored' });
    expect(late.effects).to.deep.equal([]);
  });
});

describe('decide: invalidations and the link', () => {
  it('a local invalidation publishes only when there are peers', () => {
    const local = given([]).when({ type: 'invalidate', at: 1, scope: 'key', key: 'k' });
    expect(local).to.deep.equal({ events: [{ type: 'invalidated', scope: 'key', key: 'k', at: 1, origin: 'local', reason: 'explicit' }], effects: [] });
    expect(given([connected(0)]).when({ type: 'invalidate', at: 1, scope: 'all' }).effects).to.deep.equal([{ type: 'publish', scope: 'all' }]);
    expect(given([degraded(0)]).when({ type: 'invalidate', at: 1, scope: 'key', key: 'k' }).effects).to.deep.equal([{ type: 'publish', scope: 'key', key: 'k' }]);
  });

  it('losing the link counts from its last proof: every entry expires by then + degradedTtl; losing it again decides nothing', () => {
    const renewed: CacheEvent<string> = { type: 'lease.renewed', at: 21, provenAt: 20, until: 70 };
    expect(given([connected(0), renewed]).when({ type: 'link', at: 30, status: 'degraded', reason: 'heartbeat-timeout' }).events).to.deep.equal([
      { type: 'link.changed', at: 30, state: 'degraded', reason: 'heartbeat-timeout', since: 20, entriesExpireBy: 70 },
    ]);
    expect(given([degraded(0)]).when({ type: 'link', at: 10, status: 'degraded', reason: 'connection-lost' })).to.deep.equal({ events: [], effects: [] });
  });

  it('regaining the link after a gap drops what was cached or loading meanwhile, sends the retry queue and a heartbeat, under a new lease', () => {
    const failed: CacheEvent<string> = { type: 'publish.failed', at: 5, keys: ['q'], clear: false, errorName: 'Error', overflowed: false };
    expect(given([connected(0), degraded(0), stored('k', 1, 50), failed]).when({ type: 'link', at: 10, status: 'connected', reason: 'connected' })).to.deep.equal({
      events: [
        { type: 'link.changed', at: 10, state: 'connected', reason: 'connected', leaseUntil: 60 },
        { type: 'invalidated', scope: 'all', at: 10, origin: 'local', reason: 'resync' },
        { type: 'resynced', at: 10, mode: 'full', cause: 'no-log', missed: 0, keys: 0, dropped: 1, kept: 0 },
      ],
      effects: [{ type: 'flush' }, { type: 'send-beat' }],
    });
    expect(given([degraded(0)]).when({ type: 'link', at: 10, status: 'connected', reason: 'connected' }).events).to.have.length(1);
  });
});

describe('decide: the lease', () => {
  const beat = (instance: string, sentAt: number, at: number): Command<string> => ({
    type: 'receive',
    at,
    channel: 'coherent-cache:config',
    message: { ok: true, cache: 'config', op: 'beat', legacy: false, keys: [], remote: { instance, sentAt } },
  });

  it('its own heartbeat renews the lease to its send time + degradedTtl; a peer heartbeat or a stale one does not', () => {
    expect(given([connected(0)]).when(beat('inst_self', 20, 21)).events).to.deep.equal([{ type: 'lease.renewed', at: 21, provenAt: 20, until: 70 }]);
    expect(given([connected(0)]).when(beat('inst_peer', 20, 21)).events, 'a peer is only heard').to.deep.equal([{ type: 'peer.heard', at: 21, instance: 'inst_peer' }]);
    expect(given([connected(0)]).when(beat('inst_self', 0, 60)).events, 'a proof already as old as the bound').to.deep.equal([]);
  });

  it('no entry is served at or past the lease, however long its ttl', () => {
    expect(given([connected(0), stored('k', 0, 1_000)]).when(read('k', 49)).events[0]).to.deep.include({ type: 'hit' });
    expect(given([connected(0), stored('k', 0, 1_000)]).when(read('k', 50)).events[0]).to.deep.include({ type: 'miss' });
  });

  it('forgets a peer not heard for 2 × degradedTtl', () => {
    const heard: CacheEvent<string> = { type: 'peer.heard', at: 10, instance: 'inst_peer' };
    expect(given([degraded(0), heard]).when({ type: 'beat', at: 110 }).events).to.deep.equal([]);
    expect(given([degraded(0), heard]).when({ type: 'beat', at: 111 }).events).to.deep.equal([{ type: 'peer.lost', at: 111, instance: 'inst_peer' }]);
  });

  it('the heartbeat timer degrades a lapsed lease (entries expire by its end), with no gap: its renewal needs no resync', () => {
    const lapsed = given([connected(0), stored('k', 0, 1_000)]).when({ type: 'beat', at: 55 });
    expect(lapsed).to.deep.equal({
      events: [{ type: 'link.changed', at: 55, state: 'degraded', reason: 'lease-expired', since: 0, entriesExpireBy: 50 }],
      effects: [{ type: 'send-beat' }],
    });
    const back = given([connected(0), stored('k', 0, 1_000), lapsed.events[0] as CacheEvent<string>]).when(beat('inst_self', 60, 61));
    expect(back.events).to.deep.equal([{ type: 'link.changed', at: 61, state: 'connected', reason: 'lease-renewed', leaseUntil: 110 }]);
    expect(given([connected(0)]).when({ type: 'beat', at: 20 })).to.deep.equal({ events: [], effects: [{ type: 'send-beat' }] });
    expect(given([]).when({ type: 'beat', at: 20 }), 'no heartbeat without peers').to.deep.equal({ events: [], effects: [] });
  });

  it('while connected, a read never joins a load whose value is older than the last proof allows', () => {
    expect(given([connected(0), started('k', 1, 0)]).when(read('k', 49)).effects[0]).to.deep.include({ type: 'join-load' });
    expect(given([connected(0), started('k', 1, 0)]).when(read('k', 50)).effects[0]).to.deep.include({ type: 'start-load' });
  });
});

describe('decide: close', () => {
  it('gives up what still waits in the retry queue, naming it', () => {
    const failed: CacheEvent<string> = { type: 'publish.failed', at: 5, keys: ['q', 'r'], clear: false, errorName: 'Error', overflowed: false };
    expect(given([failed]).when({ type: 'abandon', at: 9 }).events).to.deep.equal([{ type: 'publish.abandoned', at: 9, keys: ['q', 'r'], clear: false }]);
    expect(given([]).when({ type: 'abandon', at: 9 }).events).to.deep.equal([]);
  });
});

describe('decide: messages', () => {
  const message = (cache: string, instance: string): Command<string> => ({
    type: 'receive',
    at: 100,
    channel: 'coherent-cache:config',
    message: { ok: true, cache, op: 'del', legacy: false, keys: ['a', 'b'], remote: { instance, sentAt: 90 } },
  });

  it("applies a peer's message: received, then one invalidation per key", () => {
    const { events } = given([connected(0)]).when(message('config', 'inst_peer'));
    expect(events.map((event) => event.type)).to.deep.equal(['message.received', 'invalidated', 'invalidated']);
    expect(events[0]).to.deep.include({ op: 'del', keys: 2, channel: 'coherent-cache:config', format: 'v1' });
    expect(events[1]).to.deep.include({ origin: 'remote', key: 'a' });
  });

  it('applies a legacy message once: not when its origin speaks v1 too (it said the same in the current format)', () => {
    const legacy = (instance: string): Command<string> => ({
      type: 'receive',
      at: 100,
      channel: 'sentri:compat-config:invalidate',
      message: { ok: true, cache: 'config', op: 'del', legacy: true, keys: ['a'], remote: { instance } },
    });
    expect(given([]).when(legacy('inst_old')).events.map((event) => event.type), 'an old process').to.deep.equal(['message.received', 'invalidated']);
    const heard: CacheEvent<string> = { type: 'peer.heard', at: 50, instance: 'inst_new' };
    expect(given([heard]).when(legacy('inst_new')), 'a new one, also heard in v1').to.deep.equal({ events: [], effects: [] });
  });

  it('rejects what does not decode and what is for another cache; skips its own', () => {
    const bad = given([]).when({ type: 'receive', at: 1, channel: 'c', message: { ok: false, reason: 'bad-signature', detail: 'sig' } });
    expect(bad.events).to.deep.equal([{ type: 'message.rejected', at: 1, reason: 'bad-signature', detail: 'sig' }]);
    expect(given([]).when(message('other', 'inst_peer')).events[0]).to.deep.include({ type: 'message.rejected', reason: 'other-cache' });
    expect(given([]).when(message('config', 'inst_self'))).to.deep.equal({ events: [], effects: [] });
  });
});

describe('decide: the retry queue', () => {
  const settled = (keys: string[], errorName: string | undefined, clear = false): Command<string> => ({ type: 'publish.settled', at: 5, keys, clear, messages: errorName === undefined ? 1 : 0, errorName, traceparent: undefined });

  it('a sent batch is published; a failed one waits for a retry on a timer', () => {
    expect(given([]).when(settled(['a'], undefined)).events).to.deep.equal([{ type: 'published', at: 5, messages: 1, keys: ['a'], clear: false }]);
    expect(given([]).when(settled(['a'], 'Error'))).to.deep.equal({
      events: [{ type: 'publish.failed', at: 5, keys: ['a'], clear: false, errorName: 'Error', overflowed: false }],
      effects: [{ type: 'arm-retry', afterMs: 20 }],
    });
  });

  it('past maxQueuedKeys the queue overflows into one clear (counting a key once)', () => {
    const one: CacheEvent<string> = { type: 'publish.failed', at: 1, keys: ['a', 'b'], clear: false, errorName: 'Error', overflowed: false };
    expect(given([one]).when(settled(['a', 'b'], 'Error')).events[0]).to.deep.include({ overflowed: false });
    expect(given([one]).when(settled(['c'], 'Error')).events[0]).to.deep.include({ overflowed: true });
  });

  it('the retry timer sends the queue when anything waits', () => {
    const waiting: CacheEvent<string> = { type: 'publish.failed', at: 1, keys: ['a'], clear: false, errorName: 'Error', overflowed: false };
    expect(given([waiting]).when({ type: 'retry', at: 21 }).effects).to.deep.equal([{ type: 'flush' }]);
    expect(given([]).when({ type: 'retry', at: 21 }).effects).to.deep.equal([]);
  });
});
