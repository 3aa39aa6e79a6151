/**
 * `decide` for acknowledged invalidations and verification, given/when/then:
 * given these events, when this command, then these events and effects.
 */
import { expect } from 'chai';
import type { Command, DecodedMessage } from '../../src/core/commands.ts';
import { decide, type Decision } from '../../src/core/decide.ts';
import type { CacheEvent } from '../../src/core/events.ts';
import { stateAfter } from '../../src/core/evolve.ts';
import { DEFAULT_POLICY, type Policy } from '../../src/core/state.ts';

const POLICY: Policy = { ...DEFAULT_POLICY, name: 'config', instanceId: 'inst_self', degradedTtl: 50 };

function given(events: CacheEvent<string>[]) {
  const state = stateAfter<string>(POLICY, events);
  return { when: (command: Command<string>): Decision<string> => decide(state, command), state };
}

const connected: CacheEvent<string> = { type: 'link.changed', at: 0, state: 'connected', reason: 'connected', leaseUntil: 50 };
const heard = (instance: string, at = 1): CacheEvent<string> => ({ type: 'peer.heard', at, instance });
const requested = (requestId: number, peers: string[], key = 'k'): CacheEvent<string> => ({ type: 'ack.requested', at: 5, requestId, scope: 'key', key, peers, timeoutMs: 100 });
const ackFrom = (instance: string, ack: number, to = 'inst_self'): Command<string> => {
  const message: DecodedMessage = { ok: true, cache: 'config', op: 'ack', legacy: false, keys: [], remote: { instance, sentAt: 9 }, ack, to };
  return { type: 'receive', at: 10, channel: 'c', message };
};

describe('decide: acknowledged invalidations', () => {
  it('an invalidation with ack asks the peers live now, by request id, and arms its timeout; the publish carries the request', () => {
    const decision = given([connected, heard('inst_b'), heard('inst_a')]).when({ type: 'invalidate', at: 5, scope: 'key', key: 'k', ackTimeout: 100 });
    expect(decision).to.deep.equal({
      events: [
        { type: 'invalidated', scope: 'key', key: 'k', at: 5, origin: 'local', reason: 'explicit' },
        { type: 'ack.requested', at: 5, requestId: 1, scope: 'key', key: 'k', peers: ['inst_a', 'inst_b'], timeoutMs: 100 },
      ],
      effects: [
        { type: 'publish', scope: 'key', key: 'k', ack: 1 },
        { type: 'arm-ack-timeout', requestId: 1, afterMs: 100, key: 'k' },
      ],
    });
  });

  it('without ack nothing changes: no request, no extra effect', () => {
    expect(given([connected, heard('inst_b')]).when({ type: 'invalidate', at: 5, scope: 'all' })).to.deep.equal({
      events: [{ type: 'invalidated', scope: 'all', at: 5, origin: 'local', reason: 'explicit' }],
      effects: [{ type: 'publish', scope: 'all' }],
    });
  });

  it('request ids follow the last one handed out; with no peer the request is complete at once', () => {
    const decision = given([connected, requested(4, ['inst_b']), { type: 'ack.completed', at: 6, requestId: 4, lost: [] }]).when({ type: 'invalidate', at: 7, scope: 'all', ackTimeout: 30 });
    expect(decision.events.slice(1)).to.deep.equal([
      { type: 'ack.requested', at: 7, requestId: 5, scope: 'all', peers: [], timeoutMs: 30 },
      { type: 'ack.completed', at: 7, requestId: 5, lost: [] },
    ]);
    expect(decision.effects).to.deep.include({ type: 'settle-ack', requestId: 5, missing: [] });
  });

  it('a local cache (no transport) has nobody to ask', () => {
    expect(given([]).when({ type: 'invalidate', at: 5, scope: 'key', key: 'k', ackTimeout: 100 }).effects).to.deep.equal([]);
  });

  it('an ack confirms the peer for every waiting request up to the one it names; the last confirmation completes a request', () => {
    const decision = given([connected, heard('inst_a'), heard('inst_b'), requested(1, ['inst_a', 'inst_b']), requested(2, ['inst_a']), requested(3, ['inst_a'])]).when(ackFrom('inst_a', 2));
    expect(decision).to.deep.equal({
      events: [
        { type: 'ack.confirmed', at: 10, requestId: 1, instance: 'inst_a' },
        { type: 'ack.confirmed', at: 10, requestId: 2, instance: 'inst_a' },
        { type: 'ack.completed', at: 10, requestId: 2, lost: [] },
      ],
      effects: [{ type: 'settle-ack', requestId: 2, missing: [] }],
    });
  });

  it('ignores an ack for another instance, from a peer not awaited, or repeated', () => {
    const waiting = [connected, requested(1, ['inst_a', 'inst_b'])];
    expect(given(waiting).when(ackFrom('inst_a', 1, 'inst_other'))).to.deep.equal({ events: [], effects: [] });
    expect(given(waiting).when(ackFrom('inst_c', 1))).to.deep.equal({ events: [], effects: [] });
    expect(given([...waiting, { type: 'ack.confirmed', at: 9, requestId: 1, instance: 'inst_a' }]).when(ackFrom('inst_a', 1))).to.deep.equal({ events: [], effects: [] });
  });

  it('an ack of another cache is rejected like any message for it', () => {
    const message: DecodedMessage = { ok: true, cache: 'other', op: 'ack', legacy: false, keys: [], remote: { instance: 'inst_a' }, ack: 1, to: 'inst_self' };
    expect(given([connected, requested(1, ['inst_a'])]).when({ type: 'receive', at: 10, channel: 'c', message }).events[0]).to.include({ type: 'message.rejected', reason: 'other-cache' });
  });

  it('the timeout names the peers that did not confirm, sorted; after completion it does nothing', () => {
    const waiting = [connected, requested(1, ['inst_a', 'inst_b', 'inst_c']), { type: 'ack.confirmed', at: 9, requestId: 1, instance: 'inst_b' } as CacheEvent<string>];
    expect(given(waiting).when({ type: 'ack.timeout', at: 105, requestId: 1 })).to.deep.equal({
      events: [{ type: 'ack.timedout', at: 105, requestId: 1, missing: ['inst_a', 'inst_c'] }],
      effects: [{ type: 'settle-ack', requestId: 1, missing: ['inst_a', 'inst_c'] }],
    });
    expect(given([...waiting, { type: 'ack.completed', at: 10, requestId: 1, lost: [] }]).when({ type: 'ack.timeout', at: 105, requestId: 1 })).to.deep.equal({ events: [], effects: [] });
  });

  it('a peer lost meanwhile is no longer waited for: a request waiting only for lost peers completes, naming them', () => {
    const decision = given([connected, heard('inst_a', 1), heard('inst_b', 90), requested(1, ['inst_a']), requested(2, ['inst_a', 'inst_b'])]).when({ type: 'beat', at: 102 });
    expect(decision.events).to.deep.include({ type: 'peer.lost', at: 102, instance: 'inst_a' });
    expect(decision.events).to.deep.include({ type: 'ack.completed', at: 102, requestId: 1, lost: ['inst_a'] });
    expect(decision.effects).to.deep.include({ type: 'settle-ack', requestId: 1, missing: [] });
    // Request 2 still waits for inst_b, and no longer for inst_a; its completion names the lost peer.
    const after = given([connected, heard('inst_a', 1), heard('inst_b', 90), requested(2, ['inst_a', 'inst_b']), ...decision.events]);
    const confirmed = after.when({ ...ackFrom('inst_b', 2), at: 103 });
    expect(confirmed.events).to.deep.equal([
      { type: 'ack.confirmed', at: 103, requestId: 2, instance: 'inst_b' },
      { type: 'ack.completed', at: 103, requestId: 2, lost: ['inst_a'] },
    ]);
  });

  it('a request a lost peer held up completes no sooner than degradedTtl after it was made (degraded, that peer may serve what it read before the call until then)', () => {
    const events = [connected, heard('inst_a', -80), requested(1, ['inst_a'])];
    const early = given(events).when({ type: 'beat', at: 30 });
    expect(early.events.map((e) => e.type), 'lost at 30, requested at 5: not complete yet').to.deep.equal(['peer.lost']);
    expect(given([...events, ...early.events]).when({ type: 'ack.timeout', at: 40, requestId: 1 }).events, 'a timeout before then names it').to.deep.equal([
      { type: 'ack.timedout', at: 40, requestId: 1, missing: ['inst_a'] },
    ]);
    expect(given([...events, ...early.events]).when({ type: 'beat', at: 55 }).events).to.deep.include({ type: 'ack.completed', at: 55, requestId: 1, lost: ['inst_a'] });
  });

  it('a peer that joins while a request waits is not waited for', () => {
    const state = given([connected, heard('inst_a'), requested(1, ['inst_a']), heard('inst_new', 20)]);
    expect(state.when({ type: 'ack.timeout', at: 105, requestId: 1 }).events).to.deep.equal([{ type: 'ack.timedout', at: 105, requestId: 1, missing: ['inst_a'] }]);
  });

  it('a peer asked to confirm answers once it applied the invalidation (an ack to the publisher, naming the request)', () => {
    const message: DecodedMessage = { ok: true, cache: 'config', op: 'del', legacy: false, keys: ['k'], remote: { instance: 'inst_a', sentAt: 9 }, ack: 4 };
    const decision = given([connected]).when({ type: 'receive', at: 10, channel: 'c', message });
    expect(decision.events.map((e) => e.type)).to.deep.equal(['message.received', 'invalidated']);
    expect(decision.effects).to.deep.equal([{ type: 'send-ack', ack: 4, to: 'inst_a' }]);
    const plain: DecodedMessage = { ok: true, cache: 'config', op: 'del', legacy: false, keys: ['k'], remote: { instance: 'inst_a', sentAt: 9 } };
    expect(given([connected]).when({ type: 'receive', at: 10, channel: 'c', message: plain }).effects).to.deep.equal([]);
  });

  it('on a logged channel, a confirmation waits while messages before it may be missing (a gap found now, or a repair under way), and goes when the repair ends', () => {
    const logged = { ...POLICY, logged: true };
    const cursor: CacheEvent<string> = { type: 'resynced', at: 1, mode: 'full', cause: 'starting', head: { epoch: 'e', seq: 5 }, missed: 0, keys: 0, dropped: 0, kept: 0 };
    const message: DecodedMessage = { ok: true, cache: 'config', op: 'del', legacy: false, keys: ['k'], remote: { instance: 'inst_a', sentAt: 9 }, ack: 4 };
    const at = (seq: number): Command<string> => ({ type: 'receive', at: 10, channel: 'c', message, position: { epoch: 'e', seq, entry: true } });
    const next = decide(stateAfter<string>(logged, [connected, cursor]), at(6));
    expect(next.effects, 'in order: confirmed').to.deep.equal([{ type: 'send-ack', ack: 4, to: 'inst_a' }]);
    const gap = decide(stateAfter<string>(logged, [connected, cursor]), at(7));
    expect(gap.effects.map((e) => e.type), 'seq 6 is missing: repair first, confirm nothing').to.deep.equal(['read-log']);
    expect(gap.events.at(-1), 'held until the repair ends').to.deep.equal({ type: 'ack.deferred', at: 10, to: 'inst_a', ack: 4 });
    const started: CacheEvent<string> = { type: 'repair.started', at: 9, repairId: 1, reason: 'lost-message', after: { epoch: 'e', seq: 5 } };
    const repairing = decide(stateAfter<string>(logged, [connected, cursor, started]), at(6));
    expect(repairing.effects.some((e) => e.type === 'send-ack'), 'a repair is under way').to.equal(false);
    expect(repairing.events.at(-1)).to.deep.include({ type: 'ack.deferred', ack: 4 });

    // The repair's end sends what was held (the highest request per peer), once.
    const held: CacheEvent<string>[] = [connected, cursor, started, ...repairing.events, { type: 'ack.deferred', at: 11, to: 'inst_a', ack: 3 }, { type: 'ack.deferred', at: 11, to: 'inst_b', ack: 1 }];
    const read: Command<string> = { type: 'log.read', at: 12, repairId: 1, ok: true, epoch: 'e', head: 6, covered: true, entries: [message] };
    const repaired = decide(stateAfter<string>(logged, held), read);
    expect(repaired.effects.filter((e) => e.type === 'send-ack')).to.deep.equal([
      { type: 'send-ack', ack: 4, to: 'inst_a' },
      { type: 'send-ack', ack: 1, to: 'inst_b' },
    ]);
    expect(stateAfter<string>(logged, [...held, ...repaired.events]).owedAcks.size, 'sent: no longer owed').to.equal(0);
  });

  it('the fold: a request waits in state until it completes or times out', () => {
    const { state } = given([connected, requested(1, ['inst_a', 'inst_b']), { type: 'ack.confirmed', at: 9, requestId: 1, instance: 'inst_a' }]);
    expect([...(state.acks.get(1)?.awaiting ?? [])]).to.deep.equal(['inst_b']);
    expect(state.lastAckId).to.equal(1);
    expect(given([requested(1, ['inst_a']), { type: 'ack.timedout', at: 9, requestId: 1, missing: ['inst_a'] }]).state.acks.size).to.equal(0);
  });
});

describe('decide: verification of sampled hits', () => {
  it('a judged verification becomes its event: a violation, or how it ended', () => {
    expect(given([]).when({ type: 'verify', at: 9, outcome: 'violation', key: '[redacted]', hitAt: 3 })).to.deep.equal({
      events: [{ type: 'coherence.violation', at: 9, key: '[redacted]', hitAt: 3 }],
      effects: [],
    });
    expect(given([]).when({ type: 'verify', at: 9, outcome: 'explained', key: 'k', hitAt: 3 }).events).to.deep.equal([{ type: 'verified', at: 9, outcome: 'explained' }]);
  });
});
