/**
 * Acknowledged invalidation across real processes over a real redis-server:
 * this process invalidates with `{ ack: 'all' }`, peers are child processes
 * (test/fixtures/redis-peer.ts). All peers up; one SIGSTOPped (the timeout
 * names it); one that joins while the request waits (not waited for); a
 * forged confirmation (rejected and counted, and it confirms nothing).
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { AckTimeoutError, type Cache, type CacheEvent, type CacheOptions } from '../../src/index.ts';
import { spawnChild, type ChildWorker } from '../support/child.ts';
import { rejectionOf } from '../support/rejection.ts';
import { redisInstances } from '../support/redis-instances.ts';
import { waitForEvent } from '../support/wait-for-event.ts';
import type { PeerPush, PeerRequest } from '../fixtures/redis-peer.ts';

type Peer = ChildWorker<PeerRequest, unknown, PeerPush> & { readonly id: string };

describe('acknowledged invalidation across processes over redis-server', function () {
  this.timeout(40_000);
  const redis = redisInstances({ cache: { metrics: false, tracing: false }, ignoreCloseErrors: true });
  const { cleanup } = redis;

  async function peer(options: Partial<CacheOptions> = {}): Promise<Peer> {
    const child = await spawnChild<PeerRequest, unknown, PeerPush>(new URL('../fixtures/redis-peer.ts', import.meta.url), [redis.server.url, JSON.stringify(options)]);
    cleanup(async () => {
      child.kill('SIGCONT');
      await child.stop();
    });
    const id = (await child.request({ op: 'ready' }, { timeoutMs: 10_000 })) as string;
    return Object.assign(child, { id });
  }

  async function local(options: Partial<CacheOptions> = {}): Promise<Cache<string>> {
    const cache = redis.instance(options);
    await cache.ready();
    return cache;
  }

  /** Resolves once `cache` has heard each of `ids` (their heartbeats). */
  async function hears(cache: Cache<string>, ...ids: string[]): Promise<void> {
    while (!ids.every((id) => cache.peers().some((p) => p.instance === id))) await waitForEvent(cache, `peers ${ids.join(', ')}`, (e) => e.type === 'peer.heard');
  }

  function recorded(cache: Cache<string>): CacheEvent<string>[] {
    const events: CacheEvent<string>[] = [];
    cache.subscribe((event) => events.push(event));
    return events;
  }

  it('all peers up: resolves once each confirmed, and each has dropped the key', async () => {
    const [b, c] = await Promise.all([peer(), peer()]);
    const a = await local();
    await hears(a, b.id, c.id);
    await Promise.all([b.request({ op: 'set', key: 'k', value: 'old' }), c.request({ op: 'set', key: 'k', value: 'old' })]);
    const events = recorded(a);
    await a.invalidate('k', { ack: 'all', timeout: 5_000 });
    expect(await b.request({ op: 'has', key: 'k' })).to.equal(false);
    expect(await c.request({ op: 'has', key: 'k' })).to.equal(false);
    expect(events.find((e) => e.type === 'ack.requested')).to.deep.include({ peers: [b.id, c.id].sort() });
    expect(events.filter((e) => e.type === 'ack.confirmed').length).to.equal(2);
    await a.invalidateAll({ ack: 'all', timeout: 5_000 });
    expect(a.stats()).to.include({ ackRequested: 2, ackCompleted: 2, ackTimedout: 0 });
  });

  it('one peer SIGSTOPped: rejects with AckTimeoutError naming it (and only it)', async () => {
    const [b, c] = await Promise.all([peer(), peer()]);
    const a = await local();
    await hears(a, b.id, c.id);
    b.kill('SIGSTOP');
    const error = await rejectionOf(a.invalidate('k', { ack: 'all', timeout: 500 }));
    b.kill('SIGCONT');
    expect(error).to.be.instanceOf(AckTimeoutError);
    expect((error as AckTimeoutError).peers).to.deep.equal([b.id]);
    expect(error.message).to.include(b.id).and.not.include(c.id);
    expect(a.stats()).to.include({ ackTimedout: 1, ackConfirmed: 1 });
  });

  it('a peer that joins while the request waits is not waited for; the request completes with the peers of the call', async () => {
    const b = await peer();
    const a = await local();
    await hears(a, b.id);
    const events = recorded(a);
    // b holds the message in its socket while it is busy, and confirms afterwards.
    const busy = b.request({ op: 'busy', ms: 4_000 }, { timeoutMs: 10_000 });
    const acked = a.invalidate('k', { ack: 'all', timeout: 15_000 });
    const c = await peer();
    await hears(a, c.id);
    expect(events.some((e) => e.type === 'ack.completed'), 'still waiting for b when c joined').to.equal(false);
    await acked;
    await busy;
    expect(events.find((e) => e.type === 'ack.requested')).to.deep.include({ peers: [b.id] });
    expect(events.filter((e) => e.type === 'ack.confirmed').map((e) => (e as { instance: string }).instance)).to.deep.equal([b.id]);
  });

  it('a forged or unsigned confirmation is rejected and counted, and confirms nothing', async () => {
    const secret = 'the-shared-secret';
    const b = await peer({ secret });
    const a = await local({ secret });
    await hears(a, b.id);
    // What an attacker on the channel sees: the signed request, with its id.
    const spy = new Redis(redis.server.url);
    const publisher = new Redis(redis.server.url);
    cleanup(
      () => spy.quit(),
      () => publisher.quit(),
    );
    const request = new Promise<{ ack: number }>((resolve) => {
      spy.on('message', (_channel: string, payload: string) => {
        const message = JSON.parse(payload) as { op: string; ack?: number };
        if (message.op === 'del' && message.ack !== undefined) resolve({ ack: message.ack });
      });
    });
    await spy.subscribe('coherent-cache:config');
    b.kill('SIGSTOP');
    const pending = rejectionOf(a.invalidate('k', { ack: 'all', timeout: 1_500 }));
    const { ack } = await request;
    const forged = { v: 1, cache: 'config', op: 'ack', origin: b.id, sentAt: Date.now(), ack, to: a.instanceId };
    await publisher.publish('coherent-cache:config', JSON.stringify({ ...forged, sig: 'f'.repeat(64) }));
    await publisher.publish('coherent-cache:config', JSON.stringify(forged));
    const error = await pending;
    b.kill('SIGCONT');
    expect(error).to.be.instanceOf(AckTimeoutError);
    expect((error as AckTimeoutError).peers).to.deep.equal([b.id]);
    expect(a.stats().messageRejected).to.include({ 'bad-signature': 1, unsigned: 1 });
    expect(a.stats().ackConfirmed).to.equal(0);
  });
});
