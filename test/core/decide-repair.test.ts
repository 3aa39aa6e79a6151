/**
 * Gap repair from the channel's log, one decision at a time: given these
 * events, when this command, then these events and effects. The transport
 * keeps a log (`logged`), so a gap is repaired by reading it.
 */
import { expect } from 'chai';
import type { Command, DecodedMessage, ReceivedPosition, UndecodableMessage } from '../../src/core/commands.ts';
import { decide, type Decision } from '../../src/core/decide.ts';
import type { CacheEvent } from '../../src/core/events.ts';
import { stateAfter } from '../../src/core/evolve.ts';
import { snapshotOf } from '../../src/core/snapshot.ts';
import { DEFAULT_POLICY, type Policy } from '../../src/core/state.ts';

const POLICY: Policy = { ...DEFAULT_POLICY, name: 'config', instanceId: 'inst_self', degradedTtl: 50, logged: true };

function given(events: CacheEvent<string>[], policy: Partial<Policy> = {}) {
  const state = stateAfter<string>({ ...POLICY, ...policy }, events);
  return {
    when: (command: Command<string>): Decision<string> => decide(state, command),
    state,
  };
}

const stored = (key: string, at: number, expiresAt: number): CacheEvent<string> => ({ type: 'stored', key, at, expiresAt, source: 'set', value: `v-${key}` });
const connected = (at: number): CacheEvent<string> => ({ type: 'link.changed', at, state: 'connected', reason: 'connected', leaseUntil: at + POLICY.degradedTtl });
const lost = (at: number): CacheEvent<string> => ({ type: 'link.changed', at, state: 'degraded', reason: 'connection-lost', since: at, entriesExpireBy: at + POLICY.degradedTtl });
const started = (repairId: number, at: number, seq?: number): CacheEvent<string> =>
  seq === undefined
    ? { type: 'repair.started', at, repairId, reason: 'starting' }
    : { type: 'repair.started', at, repairId, reason: 'reconnected', after: { epoch: 'e1', seq } };
/** The log applied through `seq` of epoch e1 (what a first, full resync leaves). */
const cursorAt = (seq: number, at = 0): CacheEvent<string> => ({ type: 'resynced', at, mode: 'full', cause: 'starting', head: { epoch: 'e1', seq }, missed: 0, keys: 0, dropped: 0, kept: 0 });
const entry = (seq: number, epoch = 'e1'): ReceivedPosition => ({ epoch, seq, entry: true });
const mark = (seq: number, epoch = 'e1'): ReceivedPosition => ({ epoch, seq, entry: false });
const del = (keys: string[], instance = 'inst_peer', cache = 'config'): DecodedMessage => ({ ok: true, cache, op: 'del', legacy: false, keys, remote: { instance, sentAt: 1 } });
const beat = (instance: string, sentAt: number): DecodedMessage => ({ ok: true, cache: 'config', op: 'beat', legacy: false, keys: [], remote: { instance, sentAt } });
const logRead = (repairId: number, at: number, head: number, entries: (DecodedMessage | UndecodableMessage)[], covered = true, epoch = 'e1'): Command<string> => ({
  type: 'log.read',
  at,
  repairId,
  ok: true,
  epoch,
  head,
  covered,
  entries,
});
/** Connected once, the log at position 5, then the link lost at 10 with `k` and `j` cached. */
const afterGap = (): CacheEvent<string>[] => [connected(0), cursorAt(5), stored('k', 1, 1_000), stored('j', 1, 1_000), lost(10)];

describe('decide: gap repair from the log', () => {
  it('the first subscription reads where the log stands before connecting; the answer is a full resync that sets the cursor', () => {
    const starting: CacheEvent<string> = { type: 'link.changed', at: 0, state: 'degraded', reason: 'starting', since: 0, entriesExpireBy: 50 };
    const first = given([starting]).when({ type: 'link', at: 3, status: 'connected', reason: 'connected' });
    expect(first).to.deep.equal({
      events: [{ type: 'repair.started', at: 3, repairId: 1, reason: 'starting' }],
      effects: [{ type: 'read-log', repairId: 1, after: undefined }, { type: 'send-beat' }],
    });
    expect(given([starting, started(1, 3)]).when(logRead(1, 4, 7, []))).to.deep.equal({
      events: [
        { type: 'resynced', at: 4, mode: 'full', cause: 'starting', head: { epoch: 'e1', seq: 7 }, missed: 0, keys: 0, dropped: 0, kept: 0 },
        { type: 'link.changed', at: 4, state: 'connected', reason: 'connected', leaseUntil: 53 },
      ],
      effects: [],
    });
  });

  it('back after a gap, it stays degraded and reads the log from its cursor; a covered read drops only the keys the gap invalidated', () => {
    const back = given(afterGap()).when({ type: 'link', at: 20, status: 'connected', reason: 'connected' });
    expect(back.events).to.deep.equal([{ type: 'repair.started', at: 20, repairId: 1, reason: 'reconnected', after: { epoch: 'e1', seq: 5 } }]);
    expect(back.effects[0]).to.deep.equal({ type: 'read-log', repairId: 1, after: { epoch: 'e1', seq: 5 } });

    const read = logRead(1, 22, 9, [del(['k', 'absent']), del(['j'], 'inst_self'), del(['j'], 'inst_peer', 'other-cache'), del(['k'])]);
    expect(given([...afterGap(), started(1, 20, 5)]).when(read)).to.deep.equal({
      events: [
        { type: 'invalidated', scope: 'key', key: 'k', at: 22, origin: 'remote', reason: 'resync' },
        { type: 'resynced', at: 22, mode: 'exact', head: { epoch: 'e1', seq: 9 }, missed: 4, keys: 2, dropped: 1, kept: 1 },
        { type: 'link.changed', at: 22, state: 'connected', reason: 'connected', leaseUntil: 70 },
      ],
      effects: [],
    });
  });

  it('an exact repair gives entries back the expiries the degraded bound cut short; the cursor moves to the head read', () => {
    const events = [...afterGap(), started(1, 20, 5)];
    const { state } = given(events);
    expect(snapshotOf(state).entries.map((e) => e.expiresAt)).to.deep.equal([60, 60]);
    const degradedStore: CacheEvent<string> = { type: 'stored', key: 'n', at: 21, expiresAt: 71, ttlExpiresAt: 1_021, source: 'load', value: 'v-n' };
    const repaired = given([...events, degradedStore, ...given([...events, degradedStore]).when(logRead(1, 22, 9, [del(['k'])])).events]).state;
    expect(snapshotOf(repaired).entries.filter((e) => e.live).map((e) => [e.key, e.expiresAt])).to.deep.equal([
      ['j', 1_000],
      ['n', 1_021],
    ]);
    expect(snapshotOf(repaired).log).to.deep.equal({ epoch: 'e1', seq: 9, ahead: [] });
    expect(snapshotOf(repaired).repair).to.equal(undefined);
  });

  it('a clear in the gap drops everything, and the repair is still exact', () => {
    const clear: DecodedMessage = { ok: true, cache: 'config', op: 'clear', legacy: false, keys: [], remote: { instance: 'inst_peer', sentAt: 1 } };
    expect(given([...afterGap(), started(1, 20, 5)]).when(logRead(1, 22, 6, [clear])).events.slice(0, 2)).to.deep.equal([
      { type: 'invalidated', scope: 'all', at: 22, origin: 'remote', reason: 'resync' },
      { type: 'resynced', at: 22, mode: 'exact', head: { epoch: 'e1', seq: 6 }, missed: 1, keys: 0, dropped: 2, kept: 0 },
    ]);
  });

  const fullCases: [string, CacheEvent<string>[], Command<string>, string][] = [
    ['the log was trimmed past the cursor', [], logRead(1, 22, 9, [], false), 'log-trimmed'],
    ['the log has another epoch', [], logRead(1, 22, 9, [], true, 'e2'), 'log-reset'],
    ['an entry of the gap cannot be read', [], logRead(1, 22, 6, [{ ok: false, reason: 'not-json', detail: 'x' }]), 'undecodable'],
    [
      'a message without a position arrived',
      [{ type: 'message.received', at: 2, channel: 'c', format: 'legacy', op: 'del', keys: 1, remote: { instance: 'old' } }],
      logRead(1, 22, 6, [del(['x'])]),
      'unlogged',
    ],
    ['a peer heartbeat without a position was heard', [{ type: 'peer.heard', at: 2, instance: 'p', unlogged: true }], logRead(1, 22, 6, [del(['x'])]), 'unlogged'],
  ];
  for (const [why, extra, read, cause] of fullCases) {
    it(`falls back to a full resync when ${why} (cause ${cause})`, () => {
      const [first, cursor, ...rest] = afterGap();
      const events = [first as CacheEvent<string>, cursor as CacheEvent<string>, ...extra, ...rest, started(1, 20, 5)];
      expect(given(events).when(read).events.slice(0, 2)).to.deep.equal([
        { type: 'invalidated', scope: 'all', at: 22, origin: 'local', reason: 'resync' },
        { type: 'resynced', at: 22, mode: 'full', cause, head: read.type === 'log.read' && read.ok ? { epoch: read.epoch, seq: read.head } : undefined, missed: 0, keys: 0, dropped: 2, kept: 0 },
      ]);
    });
  }

  it('a read whose head is behind the cursor (messages published after it came first) keeps the cursor where it was', () => {
    const events = [connected(0), cursorAt(5), { type: 'log.advanced', at: 1, position: { epoch: 'e1', seq: 6 } } as CacheEvent<string>, lost(10), started(1, 20, 6)];
    const read = given(events).when(logRead(1, 22, 5, []));
    expect(read.events[0]).to.include({ type: 'resynced', mode: 'exact' });
    expect(snapshotOf(given([...events, ...read.events]).state).log).to.deep.equal({ epoch: 'e1', seq: 6, ahead: [] });
  });

  it('a full resync forgets the unlogged message: the next gap can be repaired exactly', () => {
    const legacy: CacheEvent<string> = { type: 'message.received', at: 2, channel: 'c', format: 'legacy', op: 'del', keys: 1, remote: { instance: 'old' } };
    const fullEvents = given([connected(0), cursorAt(5), legacy, lost(10), started(1, 20, 5)]).when(logRead(1, 22, 6, [])).events;
    const { state } = given([connected(0), cursorAt(5), legacy, lost(10), started(1, 20, 5), ...fullEvents]);
    expect(state.unlogged).to.equal(false);
  });

  it('a skipped position while connected is a lost message: the message applies, and a repair reads what came before it', () => {
    const decision = given([connected(0), cursorAt(5)]).when({ type: 'receive', at: 3, channel: 'c', message: del(['k']), position: entry(7) });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['message.received', 'invalidated', 'repair.started']);
    expect(decision.events[2]).to.deep.equal({ type: 'repair.started', at: 3, repairId: 1, reason: 'lost-message', after: { epoch: 'e1', seq: 5 } });
    expect(decision.effects).to.deep.equal([{ type: 'read-log', repairId: 1, after: { epoch: 'e1', seq: 5 } }]);
    // The next position in order repairs nothing.
    expect(given([connected(0), cursorAt(5)]).when({ type: 'receive', at: 3, channel: 'c', message: del(['k']), position: entry(6) }).events.map((e) => e.type)).to.deep.equal([
      'message.received',
      'invalidated',
    ]);
  });

  it('a position from another epoch means the log started again: a repair, which will be full', () => {
    const decision = given([connected(0), cursorAt(5)]).when({ type: 'receive', at: 3, channel: 'c', message: del(['k']), position: entry(1, 'e2') });
    expect(decision.events.at(-1)).to.include({ type: 'repair.started', reason: 'log-reset' });
  });

  it('its own heartbeat renews the lease only when the log it marks was applied; otherwise a repair, and no renewal meanwhile', () => {
    const applied = given([connected(0), cursorAt(5)]).when({ type: 'receive', at: 20, channel: 'c', message: beat('inst_self', 15), position: mark(5) });
    expect(applied.events).to.deep.equal([{ type: 'lease.renewed', at: 20, provenAt: 15, until: 65 }]);
    const behind = given([connected(0), cursorAt(5)]).when({ type: 'receive', at: 20, channel: 'c', message: beat('inst_self', 15), position: mark(6) });
    expect(behind.events).to.deep.equal([{ type: 'repair.started', at: 20, repairId: 1, reason: 'lost-message', after: { epoch: 'e1', seq: 5 } }]);
    const repairing: CacheEvent<string> = { type: 'repair.started', at: 18, repairId: 1, reason: 'lost-message', after: { epoch: 'e1', seq: 5 } };
    expect(given([connected(0), cursorAt(5), repairing]).when({ type: 'receive', at: 20, channel: 'c', message: beat('inst_self', 15), position: mark(5) })).to.deep.equal({
      events: [],
      effects: [],
    });
  });

  it('a peer heartbeat marking a head past the cursor starts a repair too', () => {
    const decision = given([connected(0), cursorAt(5)]).when({ type: 'receive', at: 20, channel: 'c', message: beat('inst_peer', 15), position: mark(8) });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['peer.heard', 'repair.started']);
  });

  it('its own echo, other caches’ messages and rejected ones still move the cursor; the cursor passes what was received beyond a gap once it is filled', () => {
    expect(given([connected(0), cursorAt(5)]).when({ type: 'echo', at: 3, position: entry(6) }).events).to.deep.equal([
      { type: 'log.advanced', at: 3, position: { epoch: 'e1', seq: 6 } },
    ]);
    const rejected = given([connected(0), cursorAt(5)]).when({ type: 'receive', at: 3, channel: 'c', message: { ok: false, reason: 'not-json', detail: 'x' }, position: entry(6) });
    expect(rejected.events.map((e) => e.type)).to.deep.equal(['message.rejected', 'log.advanced']);
    const advanced = (seq: number): CacheEvent<string> => ({ type: 'log.advanced', at: 3, position: { epoch: 'e1', seq } });
    const { state } = given([connected(0), cursorAt(5), advanced(8), advanced(7), advanced(6)]);
    expect(snapshotOf(state).log).to.deep.equal({ epoch: 'e1', seq: 8, ahead: [] });
  });

  it('a failed read is retried at the next heartbeat; a read answering for a link lost since is ignored', () => {
    const events = [...afterGap(), started(1, 20, 5)];
    const failed = given(events).when({ type: 'log.read', at: 21, repairId: 1, ok: false, errorName: 'Error' });
    expect(failed.events).to.deep.equal([{ type: 'repair.failed', at: 21, repairId: 1, errorName: 'Error' }]);
    const beat = given([...events, ...failed.events]).when({ type: 'beat', at: 30 });
    expect(beat.events).to.deep.equal([{ type: 'repair.started', at: 30, repairId: 2, reason: 'reconnected', after: { epoch: 'e1', seq: 5 } }]);
    expect(beat.effects).to.deep.include({ type: 'read-log', repairId: 2, after: { epoch: 'e1', seq: 5 } });
    // The lease after it counts from when the read that succeeded was asked for: nothing published before then was missed.
    expect(given([...events, ...failed.events, ...beat.events]).when(logRead(2, 31, 5, [])).events.at(-1)).to.include({ type: 'link.changed', leaseUntil: 80 });

    const lostAgain = given(events).when({ type: 'link', at: 21, status: 'degraded', reason: 'connection-lost' });
    expect(lostAgain.events.map((e) => e.type), 'losing the link cancels the repair').to.deep.equal(['link.changed']);
    expect(given([...events, ...lostAgain.events]).when(logRead(1, 22, 9, []))).to.deep.equal({ events: [], effects: [] });
  });

  it('a lapsed lease with a failed repair still pending: the transport saying connected starts the repair again instead of granting a lease', () => {
    const events: CacheEvent<string>[] = [
      connected(0),
      cursorAt(5),
      { type: 'repair.started', at: 10, repairId: 1, reason: 'lost-message', after: { epoch: 'e1', seq: 5 } },
      { type: 'repair.failed', at: 11, repairId: 1, errorName: 'Error' },
      { type: 'link.changed', at: 50, state: 'degraded', reason: 'lease-expired', since: 0, entriesExpireBy: 50 },
    ];
    const decision = given(events).when({ type: 'link', at: 60, status: 'connected', reason: 'connected' });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['repair.started']);
    expect(decision.effects[0]).to.include({ type: 'read-log', repairId: 2 });
  });

  it('without a log, coming back after a gap is a full resync at once (cause no-log)', () => {
    const decision = given(afterGap().filter((e) => e.type !== 'resynced'), { logged: false }).when({ type: 'link', at: 20, status: 'connected', reason: 'connected' });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['link.changed', 'invalidated', 'resynced']);
    expect(decision.events[2]).to.include({ mode: 'full', cause: 'no-log', dropped: 2 });
  });

  it('positions are ignored by a cache whose transport keeps no log', () => {
    const decision = given([connected(0)], { logged: false }).when({ type: 'receive', at: 3, channel: 'c', message: del(['k']), position: entry(7) });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['message.received', 'invalidated']);
    expect(decision.events[0]).to.not.have.property('position');
  });
});
