/**
 * Tags, namespaces and soft invalidation across real processes over a real
 * redis-server (started on a free port): one invalidateTag, one namespace
 * invalidateAll, one expire, each one message, reaching every other process.
 */
import { expect } from 'chai';
import { spawnChild, type ChildWorker } from '../support/child.ts';
import { redisInstances } from '../support/redis-instances.ts';
import type { ScopedPeerPush as PeerPush, ScopedPeerRequest as PeerRequest } from '../fixtures/redis-scoped-peer.ts';

type Peer = ChildWorker<PeerRequest, unknown, PeerPush>;

describe('tags and namespaces over redis, between processes (real redis-server)', function () {
  this.timeout(30_000);
  const redis = redisInstances({ cache: { metrics: false } });
  const { instance } = redis;

  /** Three service processes, each with one cache on the test's server. */
  async function peers(): Promise<Peer[]> {
    const spawned = await Promise.all([0, 1, 2].map(() => spawnChild<PeerRequest, unknown, PeerPush>(new URL('../fixtures/redis-scoped-peer.ts', import.meta.url), [redis.server.url])));
    redis.cleanup(async () => {
      for (const peer of spawned) peer.kill();
      await Promise.all(spawned.map((peer) => peer.exited));
    });
    await Promise.all(spawned.map((peer) => peer.request({ op: 'ready' })));
    return spawned;
  }

  const has = (peer: Peer, key: string, namespace?: string) => peer.request(namespace === undefined ? { op: 'has', key } : { op: 'has', key, namespace });

  it('invalidateTag in one process drops the tagged values in the others, and nothing else', async () => {
    const all = await peers();
    for (const peer of all) {
      await peer.request({ op: 'set', key: 'user:1:profile', value: 'p', tags: ['user:1'] });
      await peer.request({ op: 'set', key: 'user:1:prefs', value: 'q', tags: ['user:1', 'prefs'] });
      await peer.request({ op: 'set', key: 'user:2:profile', value: 'r', tags: ['user:2'] });
    }
    await all[0]!.request({ op: 'invalidate-tag', tag: 'user:1' });
    for (const peer of all) {
      if (peer !== all[0]) await peer.waitFor((m) => m.type === 'remote-scoped' && m.scope === 'tag' && m.name === 'user:1');
      expect([await has(peer, 'user:1:profile'), await has(peer, 'user:1:prefs'), await has(peer, 'user:2:profile')]).to.deep.equal([false, false, true]);
    }
    expect(all[0]!.pushes).to.deep.equal([]);
  });

  it("a namespace's invalidateAll in one process drops only that namespace's keys in the others", async () => {
    const all = await peers();
    for (const peer of all) {
      await peer.request({ op: 'set', key: 'cfg', value: '42', namespace: 'tenant:42' });
      await peer.request({ op: 'set', key: 'cfg', value: '43', namespace: 'tenant:43' });
      await peer.request({ op: 'set', key: 'cfg', value: 'root' });
    }
    await all[1]!.request({ op: 'invalidate-namespace', namespace: 'tenant:42' });
    for (const peer of all) {
      if (peer !== all[1]) await peer.waitFor((m) => m.type === 'remote-scoped' && m.scope === 'prefix' && m.name === 'tenant:42:');
      expect([await has(peer, 'cfg', 'tenant:42'), await has(peer, 'cfg', 'tenant:43'), await has(peer, 'cfg')]).to.deep.equal([false, true, true]);
    }
  });

  it('expire in one instance makes the value stale in the others: a failing reload gets it within staleIfError', async () => {
    const [a, b] = [instance({ staleIfError: 60_000 }), instance({ staleIfError: 60_000 })];
    await Promise.all([a.ready(), b.ready()]);
    b.set('k', 'old');
    const heard = new Promise<void>((resolve) => b.on('invalidated', (event) => event.scope === 'key' && event.soft === true && resolve()));
    await a.expire('k');
    await heard;
    expect(b.has('k')).to.equal(false);
    expect(await b.get('k', () => Promise.reject(new Error('source down')))).to.equal('old');
    expect(await b.get('k', () => Promise.resolve('new'))).to.equal('new');
  });
});
