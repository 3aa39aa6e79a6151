/**
 * Tags, namespaces and soft invalidation across real processes over a real
 * redis-server (started on a free port): one invalidateTag, one namespace
 * invalidateAll, one expire, each one message, reaching every other process.
 */
import { expect } from 'chai';
import { createCache, redisTransport, type Cache } from '../../src/index.ts';
import { spawnChild, type ChildWorker } from '../support/child.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import type { ScopedPeerPush as PeerPush, ScopedPeerRequest as PeerRequest } from '../fixtures/redis-scoped-peer.ts';

describe('tags and namespaces over redis, between processes (real redis-server)', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let peers: ChildWorker<PeerRequest, unknown, PeerPush>[];

  beforeEach(async () => {
    server = await startRedis();
    peers = await Promise.all([0, 1, 2].map(() => spawnChild<PeerRequest, unknown, PeerPush>(new URL('../fixtures/redis-scoped-peer.ts', import.meta.url), [server.url])));
    await Promise.all(peers.map((peer) => peer.request({ op: 'ready' })));
  });
  afterEach(async () => {
    for (const peer of peers) peer.kill();
    await Promise.all(peers.map((peer) => peer.exited));
    await server.stop();
  });

  const has = (peer: ChildWorker<PeerRequest, unknown, PeerPush>, key: string, namespace?: string) =>
    peer.request(namespace === undefined ? { op: 'has', key } : { op: 'has', key, namespace });

  it('invalidateTag in one process drops the tagged values in the others, and nothing else', async () => {
    for (const peer of peers) {
      await peer.request({ op: 'set', key: 'user:1:profile', value: 'p', tags: ['user:1'] });
      await peer.request({ op: 'set', key: 'user:1:prefs', value: 'q', tags: ['user:1', 'prefs'] });
      await peer.request({ op: 'set', key: 'user:2:profile', value: 'r', tags: ['user:2'] });
    }
    await peers[0]!.request({ op: 'invalidate-tag', tag: 'user:1' });
    for (const peer of peers) {
      if (peer !== peers[0]) await peer.waitFor((m) => m.type === 'remote-scoped' && m.scope === 'tag' && m.name === 'user:1');
      expect([await has(peer, 'user:1:profile'), await has(peer, 'user:1:prefs'), await has(peer, 'user:2:profile')]).to.deep.equal([false, false, true]);
    }
    expect(peers[0]!.pushes).to.deep.equal([]);
  });

  it("a namespace's invalidateAll in one process drops only that namespace's keys in the others", async () => {
    for (const peer of peers) {
      await peer.request({ op: 'set', key: 'cfg', value: '42', namespace: 'tenant:42' });
      await peer.request({ op: 'set', key: 'cfg', value: '43', namespace: 'tenant:43' });
      await peer.request({ op: 'set', key: 'cfg', value: 'root' });
    }
    await peers[1]!.request({ op: 'invalidate-namespace', namespace: 'tenant:42' });
    for (const peer of peers) {
      if (peer !== peers[1]) await peer.waitFor((m) => m.type === 'remote-scoped' && m.scope === 'prefix' && m.name === 'tenant:42:');
      expect([await has(peer, 'cfg', 'tenant:42'), await has(peer, 'cfg', 'tenant:43'), await has(peer, 'cfg')]).to.deep.equal([false, true, true]);
    }
  });

  it('expire in one process makes the value stale in the others: a failing reload gets it within staleIfError', async () => {
    const made: { cache: Cache<string>; close: () => Promise<void> }[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const transport = redisTransport({ url: server.url });
        const cache = createCache<string>({ name: 'soft', transport, staleIfError: 60_000, metrics: false });
        made.push({ cache, close: async () => (await cache.close(), await transport.close()) });
      }
      const [a, b] = made.map((m) => m.cache) as [Cache<string>, Cache<string>];
      await Promise.all([a.ready(), b.ready()]);
      b.set('k', 'old');
      const heard = new Promise<void>((resolve) => b.on('invalidated', (event) => event.scope === 'key' && event.soft === true && resolve()));
      await a.expire('k');
      await heard;
      expect(b.has('k')).to.equal(false);
      expect(await b.get('k', () => Promise.reject(new Error('source down')))).to.equal('old');
      expect(await b.get('k', () => Promise.resolve('new'))).to.equal('new');
    } finally {
      for (const m of made) await m.close();
    }
  });
});
