/**
 * `decide` for acknowledged invalidations beyond a key and everything, given/when/then:
 * `invalidateTag`, `expire`, `expireTag` and a namespace's `invalidateAll`
 * (scope `prefix`) ask the peers live now like `invalidate(key)` does, and a
 * peer asked by such a message confirms once it applied it (held while a
 * repair may still have something to drop, as for a del).
 */
import { expect } from 'chai';
import type { Command, DecodedMessage, InvalidateCommand } from '../../src/core/commands.ts';
import { decide, type Decision } from '../../src/core/decide.ts';
import type { CacheEvent } from '../../src/core/events.ts';
import { stateAfter } from '../../src/core/evolve.ts';
import { DEFAULT_POLICY, type Policy } from '../../src/core/state.ts';

const POLICY: Policy = { ...DEFAULT_POLICY, name: 'config', instanceId: 'inst_self', degradedTtl: 50 };
const connected: CacheEvent<string> = { type: 'link.changed', at: 0, state: 'connected', reason: 'connected', leaseUntil: 50 };
const heard = (instance: string): CacheEvent<string> => ({ type: 'peer.heard', at: 1, instance });

function given(events: CacheEvent<string>[]) {
  const state = stateAfter<string>(POLICY, events);
  return { when: (command: Command<string>): Decision<string> => decide(state, command) };
}

const asked = (command: InvalidateCommand): Decision<string> => given([connected, heard('inst_b'), heard('inst_a')]).when(command);

/** A peer's message of `op` naming `items`, asking for confirmation of request 4. */
const asking = (op: DecodedMessage['op'], items: string[]): DecodedMessage => ({ ok: true, cache: 'config', op, legacy: false, keys: items, remote: { instance: 'inst_a', sentAt: 9 }, ack: 4 });

describe('decide: acknowledged invalidations of a tag, an expire, a namespace', () => {
  it('invalidateTag with ack asks the peers live now; the tag publish carries the request, the timeout names the call', () => {
    expect(asked({ type: 'invalidate', at: 5, scope: 'tag', tag: 't', ackTimeout: 100 })).to.deep.equal({
      events: [
        { type: 'invalidated', at: 5, origin: 'local', reason: 'explicit', scope: 'tag', tag: 't' },
        { type: 'ack.requested', at: 5, requestId: 1, scope: 'tag', tag: 't', peers: ['inst_a', 'inst_b'], timeoutMs: 100 },
      ],
      effects: [
        { type: 'publish', scope: 'tag', tag: 't', ack: 1 },
        { type: 'arm-ack-timeout', requestId: 1, afterMs: 100, key: undefined, operation: 'invalidateTag' },
      ],
    });
  });

  it('expire with ack: a soft request for the key', () => {
    expect(asked({ type: 'invalidate', at: 5, scope: 'key', key: 'k', soft: true, ackTimeout: 100 })).to.deep.equal({
      events: [
        { type: 'invalidated', at: 5, origin: 'local', reason: 'explicit', scope: 'key', key: 'k', soft: true },
        { type: 'ack.requested', at: 5, requestId: 1, scope: 'key', key: 'k', soft: true, peers: ['inst_a', 'inst_b'], timeoutMs: 100 },
      ],
      effects: [
        { type: 'publish', scope: 'key', key: 'k', soft: true, ack: 1 },
        { type: 'arm-ack-timeout', requestId: 1, afterMs: 100, key: 'k', operation: 'expire' },
      ],
    });
  });

  it('expireTag with ack: a soft request for the tag', () => {
    expect(asked({ type: 'invalidate', at: 5, scope: 'tag', tag: 't', soft: true, ackTimeout: 100 })).to.deep.equal({
      events: [
        { type: 'invalidated', at: 5, origin: 'local', reason: 'explicit', scope: 'tag', tag: 't', soft: true },
        { type: 'ack.requested', at: 5, requestId: 1, scope: 'tag', tag: 't', soft: true, peers: ['inst_a', 'inst_b'], timeoutMs: 100 },
      ],
      effects: [
        { type: 'publish', scope: 'tag', tag: 't', soft: true, ack: 1 },
        { type: 'arm-ack-timeout', requestId: 1, afterMs: 100, key: undefined, operation: 'expireTag' },
      ],
    });
  });

  it("a namespace's invalidateAll with ack: a request for its prefix; with no peer it is complete at once", () => {
    expect(asked({ type: 'invalidate', at: 5, scope: 'prefix', prefix: 'ns:', ackTimeout: 100 })).to.deep.equal({
      events: [
        { type: 'invalidated', at: 5, origin: 'local', reason: 'explicit', scope: 'prefix', prefix: 'ns:' },
        { type: 'ack.requested', at: 5, requestId: 1, scope: 'prefix', prefix: 'ns:', peers: ['inst_a', 'inst_b'], timeoutMs: 100 },
      ],
      effects: [
        { type: 'publish', scope: 'prefix', prefix: 'ns:', ack: 1 },
        { type: 'arm-ack-timeout', requestId: 1, afterMs: 100, key: undefined, operation: 'namespace invalidateAll' },
      ],
    });
    const alone = given([connected]).when({ type: 'invalidate', at: 5, scope: 'prefix', prefix: 'ns:', ackTimeout: 100 });
    expect(alone.events.slice(1).map((e) => e.type)).to.deep.equal(['ack.requested', 'ack.completed']);
    expect(alone.effects).to.deep.include({ type: 'settle-ack', requestId: 1, missing: [] });
    // The fold keeps the request until it completes, whatever its scope.
    const waiting = stateAfter<string>(POLICY, [connected, heard('inst_a'), ...asked({ type: 'invalidate', at: 5, scope: 'tag', tag: 't', ackTimeout: 100 }).events]);
    expect([...waiting.acks.keys()]).to.deep.equal([1]);
  });

  it('a peer asked by a tag, expire, expire-tag or prefix message confirms after the events that apply it; on a logged channel it holds the confirmation while a repair may still drop more', () => {
    for (const [op, items] of [['tag', ['t']], ['expire', ['k']], ['expire-tag', ['t']], ['prefix', ['ns:']]] as const) {
      const decision = given([connected]).when({ type: 'receive', at: 10, channel: 'c', message: asking(op, [...items]) });
      expect(decision.events.map((e) => e.type), op).to.deep.equal(['message.received', 'invalidated']);
      expect(decision.effects, op).to.deep.equal([{ type: 'send-ack', ack: 4, to: 'inst_a' }]);
    }
    const logged = { ...POLICY, logged: true };
    const cursor: CacheEvent<string> = { type: 'resynced', at: 1, mode: 'full', cause: 'starting', head: { epoch: 'e', seq: 5 }, missed: 0, keys: 0, dropped: 0, kept: 0 };
    const gap = decide(stateAfter<string>(logged, [connected, cursor]), { type: 'receive', at: 10, channel: 'c', message: asking('tag', ['t']), position: { epoch: 'e', seq: 7, entry: true } });
    expect(gap.effects.map((e) => e.type), 'seq 6 is missing: repair first, confirm nothing').to.deep.equal(['read-log']);
    expect(gap.events.at(-1)).to.deep.equal({ type: 'ack.deferred', at: 10, to: 'inst_a', ack: 4 });
  });
});
