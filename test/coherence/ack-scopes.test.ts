/**
 * Acknowledged invalidation beyond a key and everything, in one process over
 * the in-memory transport: `invalidateTag`, `expire`, `expireTag` and a
 * namespace's `invalidateAll` with `{ ack: 'all' }` resolve once every live
 * peer applied them, and reject with AckTimeoutError naming the call and the
 * peers that did not confirm.
 */
import { expect } from 'chai';
import { AckTimeoutError, type Cache, type CacheEvent } from '../../src/index.ts';
import { DroppingTransport } from '../support/dropping-transport.ts';
import { memoryInstances } from '../support/memory-instances.ts';
import { rejectionOf } from '../support/rejection.ts';
import { waitForEvent } from '../support/wait-for-event.ts';

describe('acknowledged invalidation of tags, expiries and namespaces (in-memory transport)', () => {
  const memory = memoryInstances({ beatInterval: 10 });
  const { instance, cleanup } = memory;

  async function knows(cache: Cache<string>, ...peers: Cache<string>[]): Promise<void> {
    while (!peers.every((peer) => cache.peers().some((p) => p.instance === peer.instanceId))) await waitForEvent(cache, 'peer.heard', (e) => e.type === 'peer.heard');
  }

  /** Three instances that know each other (signed with `secret` when given); a's events, and every payload on the channel. */
  async function fleet(secret?: string) {
    const options = secret === undefined ? {} : { secret };
    const [a, b, c] = [await instance(options), await instance(options), await instance(options)];
    await knows(a, b, c);
    const seen: CacheEvent<string>[] = [];
    a.subscribe((event) => seen.push(event));
    const payloads: string[] = [];
    const probe = memory.bus.transport();
    cleanup(() => probe.close());
    await probe.subscribe('coherent-cache:config', (payload) => payloads.push(payload));
    const sent = () => payloads.filter((p) => !p.includes('"op":"beat"') && !p.includes('"op":"ack"'));
    return { a, peers: [b, c], seen, sent };
  }

  function confirmedByBoth(seen: CacheEvent<string>[], peers: Cache<string>[]): void {
    expect(seen.filter((e) => e.type === 'ack.confirmed').map((e) => (e as { instance: string }).instance).sort()).to.deep.equal(peers.map((p) => p.instanceId).sort());
    expect(seen.at(-1)).to.deep.include({ type: 'ack.completed', lost: [] });
  }

  it('invalidateTag resolves once every peer dropped the tagged values; one tag message carries the request', async () => {
    const { a, peers, seen, sent } = await fleet();
    for (const peer of peers) peer.set('x', 'old', { tags: ['t'] });
    await a.invalidateTag('t', { ack: 'all', timeout: 1_000 });
    for (const peer of peers) expect(peer.peek('x')).to.equal(undefined);
    expect(seen.find((e) => e.type === 'ack.requested')).to.deep.include({ scope: 'tag', tag: 't' });
    confirmedByBoth(seen, peers);
    expect(sent().map((p) => JSON.parse(p) as unknown)).to.deep.equal([{ v: 1, cache: 'config', op: 'tag', tags: ['t'], origin: a.instanceId, sentAt: (JSON.parse(sent()[0]!) as { sentAt: number }).sentAt, ack: 1 }]);
  });

  it('expire resolves once every peer made the key stale (signed: the request is covered by the signature)', async () => {
    const { a, peers, seen, sent } = await fleet('shared-secret');
    for (const peer of peers) peer.set('k', 'old');
    await a.expire('k', { ack: 'all', timeout: 1_000 });
    for (const peer of peers) expect(peer.has('k')).to.equal(false);
    expect(seen.find((e) => e.type === 'ack.requested')).to.deep.include({ scope: 'key', key: 'k', soft: true });
    confirmedByBoth(seen, peers);
    expect(sent()).to.have.lengthOf(1);
    expect(JSON.parse(sent()[0]!)).to.deep.include({ op: 'expire', ack: 1 }).and.to.have.property('sig');
  });

  it('expireTag resolves once every peer made the tagged values stale', async () => {
    const { a, peers, seen, sent } = await fleet();
    for (const peer of peers) peer.set('x', 'old', { tags: ['t'] });
    await a.expireTag('t', { ack: 'all' });
    for (const peer of peers) expect(peer.has('x')).to.equal(false);
    expect(seen.find((e) => e.type === 'ack.requested')).to.deep.include({ scope: 'tag', tag: 't', soft: true });
    confirmedByBoth(seen, peers);
    expect(JSON.parse(sent()[0]!)).to.deep.include({ op: 'expire-tag', ack: 1 });
  });

  it("a namespace's invalidateAll resolves once every peer dropped its keys (and only those)", async () => {
    const { a, peers, seen, sent } = await fleet();
    for (const peer of peers) {
      peer.namespace('ns').set('x', 'old');
      peer.set('other', 'kept');
    }
    await a.namespace('ns').invalidateAll({ ack: 'all', timeout: 1_000 });
    for (const peer of peers) {
      expect(peer.namespace('ns').peek('x')).to.equal(undefined);
      expect(peer.peek('other')).to.equal('kept');
    }
    expect(seen.find((e) => e.type === 'ack.requested')).to.deep.include({ scope: 'prefix', prefix: 'ns:' });
    confirmedByBoth(seen, peers);
    expect(JSON.parse(sent()[0]!)).to.deep.include({ op: 'prefix', ack: 1 });
  });

  it('rejects with AckTimeoutError naming the call and the peer that never confirmed; without ack no request goes on the wire', async () => {
    const deaf = new DroppingTransport(memory.bus.transport());
    const [a, b, c] = [await instance(), await instance(), await instance({}, deaf)];
    await knows(a, b, c);
    deaf.drop = (payload) => payload.includes('"ack":');
    const error = await rejectionOf(a.invalidateTag('t', { ack: 'all', timeout: 100 }));
    expect(error).to.be.instanceOf(AckTimeoutError);
    expect(error).to.deep.include({ key: undefined, operation: 'invalidateTag', peers: [c.instanceId], timeoutMs: 100 });
    expect(error.message).to.include('invalidateTag').and.to.include(c.instanceId);
    expect(await rejectionOf(a.expire('k', { ack: 'all', timeout: 50 }))).to.deep.include({ key: 'k', operation: 'expire', peers: [c.instanceId] });
    expect(a.stats()).to.include({ ackRequested: 2, ackTimedout: 2 });
    deaf.drop = () => false;
    const payloads: string[] = [];
    const probe = memory.bus.transport();
    cleanup(() => probe.close());
    await probe.subscribe('coherent-cache:config', (payload) => payloads.push(payload));
    const heard = waitForEvent(b, 'invalidated', (e) => e.type === 'invalidated');
    await Promise.all([a.invalidateTag('t'), a.expireTag('t'), a.namespace('ns').invalidateAll(), a.expire('k')]);
    await heard;
    expect(payloads.join()).not.to.include('"ack"');
    expect(a.stats().ackRequested).to.equal(2);
  });
});
