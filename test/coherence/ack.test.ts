/**
 * Acknowledged invalidation in one process, over the in-memory transport:
 * `invalidate(key, { ack: 'all' })` resolves once every live peer confirmed,
 * and rejects with AckTimeoutError naming the peers that did not. The same
 * across real processes over a real redis-server is in ack-redis.test.ts.
 */
import { expect } from 'chai';
import { AckTimeoutError, createCache, type Cache, type CacheEvent } from '../../src/index.ts';
import { CacheOptionError } from '../../src/cache/errors.ts';
import { DroppingTransport } from '../support/dropping-transport.ts';
import { memoryInstances } from '../support/memory-instances.ts';
import { rejectionOf } from '../support/rejection.ts';
import { waitForEvent } from '../support/wait-for-event.ts';

describe('acknowledged invalidation (in-memory transport)', () => {
  const memory = memoryInstances({ beatInterval: 10 });
  const { instance, cleanup } = memory;

  /** Waits until `cache` has heard every one of `peers`. */
  async function knows(cache: Cache<string>, ...peers: Cache<string>[]): Promise<void> {
    while (!peers.every((peer) => cache.peers().some((p) => p.instance === peer.instanceId))) await waitForEvent(cache, 'peer.heard', (e) => e.type === 'peer.heard');
  }

  it('resolves once every live peer confirmed it dropped the key', async () => {
    const [a, b, c] = [await instance(), await instance(), await instance()];
    await knows(a, b, c);
    b.set('k', 'old');
    c.set('k', 'old');
    const seen: CacheEvent<string>[] = [];
    a.subscribe((event) => seen.push(event));
    await a.invalidate('k', { ack: 'all', timeout: 1_000 });
    expect(b.peek('k')).to.equal(undefined);
    expect(c.peek('k')).to.equal(undefined);
    const requested = seen.find((e) => e.type === 'ack.requested');
    expect(requested).to.deep.include({ scope: 'key', key: 'k', peers: [b.instanceId, c.instanceId].sort() });
    expect(seen.filter((e) => e.type === 'ack.confirmed').map((e) => (e as { instance: string }).instance).sort()).to.deep.equal([b.instanceId, c.instanceId].sort());
    expect(seen.at(-1)).to.deep.include({ type: 'ack.completed', lost: [] });
    expect(a.stats()).to.include({ ackRequested: 1, ackConfirmed: 2, ackCompleted: 1, ackTimedout: 0 });
    await a.invalidateAll({ ack: 'all' });
    expect(a.stats().ackCompleted).to.equal(2);
  });

  it('rejects with AckTimeoutError naming the peer that never got the message; the others confirmed', async () => {
    const deaf = new DroppingTransport(memory.bus.transport());
    const [a, b, c] = [await instance(), await instance(), await instance({}, deaf)];
    await knows(a, b, c);
    deaf.drop = (payload) => payload.includes('"ack":');
    const error = await rejectionOf(a.invalidate('k', { ack: 'all', timeout: 100 }));
    expect(error).to.be.instanceOf(AckTimeoutError);
    expect(error).to.deep.include({ name: 'AckTimeoutError', key: 'k', peers: [c.instanceId], timeoutMs: 100 });
    expect(error.message).to.include(c.instanceId);
    expect(a.stats()).to.include({ ackTimedout: 1, ackConfirmed: 1 });
    expect(a.recentEvents().find((e) => e.type === 'ack.timedout')).to.deep.include({ missing: [c.instanceId] });
  });

  it('with no peer it resolves once sent; without ack no confirmation is asked for (no ack field on the wire)', async () => {
    const a = await instance();
    await a.invalidate('k', { ack: 'all' });
    const b = await instance();
    await knows(a, b);
    const payloads: string[] = [];
    const probe = memory.bus.transport();
    cleanup(() => probe.close());
    await probe.subscribe('coherent-cache:config', (payload) => payloads.push(payload));
    const heard = waitForEvent(b, 'invalidated', (e) => e.type === 'invalidated');
    await a.invalidate('k');
    await heard;
    expect(payloads.filter((p) => !p.includes('"op":"beat"'))).to.have.lengthOf(1);
    expect(payloads.join()).not.to.include('"ack"');
    expect(a.stats().ackRequested).to.equal(1);
  });

  it('a local cache resolves at once; bad options are refused', async () => {
    const local = createCache<string>({ name: 'config', metrics: false, tracing: false });
    cleanup(() => local.close());
    await local.invalidate('k', { ack: 'all' });
    for (const bad of [{ ack: 'some' }, { ack: 'all', timeout: 0 }, { timeout: 5 }, { ack: 'all', wait: 5 }, 'all']) {
      expect(await rejectionOf(local.invalidate('k', bad as never)), JSON.stringify(bad)).to.be.instanceOf(CacheOptionError);
    }
  });

  it('a peer lost while the request waits is no longer waited for', async () => {
    const deaf = new DroppingTransport(memory.bus.transport());
    const [a, b] = [await instance({ degradedTtl: 40 }), await instance({ degradedTtl: 40 }, deaf)];
    await knows(a, b);
    deaf.drop = (payload) => payload.includes('"ack":');
    const done = a.invalidate('k', { ack: 'all', timeout: 5_000 });
    // b goes silent (closed): a forgets it after 2 × degradedTtl and stops waiting.
    await b.close();
    await done;
    expect(a.recentEvents().find((e) => e.type === 'ack.completed')).to.deep.include({ lost: [b.instanceId] });
  });
});
