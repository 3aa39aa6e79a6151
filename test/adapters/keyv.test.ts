/**
 * The Keyv store (`coherent-cache/keyv`), used the way cache-manager 7 and
 * @nestjs/cache-manager use a store: through cache-manager's own API. `get`,
 * `set`, `wrap` and `del` on one instance, `del` reaching the others (in
 * process over a MemoryBus, and across processes over a real redis-server),
 * fills fenced by invalidations, and values that never leave the process.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { createCache as createCacheManager, type Cache as CacheManager } from 'cache-manager';
import { expect } from 'chai';
import { Keyv } from 'keyv';
import { createCache, MemoryBus, redisTransport, type Cache, type CacheEvent, type RedisTransport } from '../../src/index.ts';
import { createKeyv, KeyvCoherentStore } from '../../src/keyv.ts';
import { spawnChild, type ChildWorker } from '../support/child.ts';
import { startRedis, waitUntil, type RedisServer } from '../support/redis-server.ts';
import { waitForEvent } from '../support/wait-for-event.ts';
import type { KeyvPeerPush, KeyvPeerRequest } from '../fixtures/keyv-peer.ts';

interface Instance {
  cache: Cache<unknown>;
  manager: CacheManager;
}

const remoteDrop = (key: string) => (event: CacheEvent<unknown>) => event.type === 'invalidated' && event.origin === 'remote' && event.scope === 'key' && event.key === key;

describe('Keyv store: cache-manager 7 over coherent-cache', function () {
  this.timeout(30_000);
  let bus: MemoryBus;
  let instances: Instance[];

  async function instance(options: { fillWindow?: number; ttl?: number } = {}): Promise<Instance> {
    const cache = createCache<unknown>({ name: 'keyv', transport: bus.transport(), tracing: false, metrics: false, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) });
    await cache.ready();
    const manager = createCacheManager({ stores: [createKeyv(cache, options.fillWindow === undefined ? {} : { fillWindow: options.fillWindow })] });
    const created = { cache, manager };
    instances.push(created);
    return created;
  }

  beforeEach(() => {
    bus = new MemoryBus();
    instances = [];
  });
  afterEach(async () => {
    await Promise.all(instances.map(({ cache }) => cache.close()));
  });

  it('get, set, del and ttl through cache-manager, holding the very object (nothing is serialized)', async () => {
    const { cache, manager } = await instance();
    const config = { id: 7, at: new Date(0) };
    expect(await manager.get('config:7')).to.equal(undefined);
    expect(await manager.set('config:7', config, 60_000)).to.equal(config);
    expect(await manager.get('config:7')).to.equal(config);
    const expires = await manager.ttl('config:7');
    expect(expires).to.be.a('number').within(Date.now() + 59_000, Date.now() + 60_000);
    // The key is the cache's own key (no Keyv prefix): cache.invalidate('config:7') is the same invalidation.
    expect(cache.has('config:7')).to.equal(true);
    expect(await manager.del('config:7')).to.equal(true);
    expect(await manager.get('config:7')).to.equal(undefined);
    expect(cache.has('config:7')).to.equal(false);
  });

  it('wrap loads once, then serves from the cache; its fills count as misses and loads, its reads as hits', async () => {
    const { cache, manager } = await instance();
    let loads = 0;
    const loader = () => Promise.resolve({ version: ++loads });
    expect(await manager.wrap('k', loader)).to.deep.equal({ version: 1 });
    expect(await manager.wrap('k', loader)).to.deep.equal({ version: 1 });
    expect(await manager.get('k')).to.deep.equal({ version: 1 });
    expect(loads).to.equal(1);
    const stats = cache.stats();
    expect({ hits: stats.hits, misses: stats.misses, stored: stats.stored }).to.deep.equal({ hits: 2, misses: { absent: 1, expired: 0, invalidated: 0 }, stored: { load: 1, set: 0 } });
  });

  it('an entry past its ttl is a miss, and reading it publishes nothing (Keyv would delete it: an invalidation everywhere)', async () => {
    const [a, b] = [await instance(), await instance()];
    let published = 0;
    a.cache.on('published', () => published++);
    await a.manager.set('short', 'v', 30);
    await b.manager.set('short', 'v', 60_000);
    await delay(60);
    expect(await a.manager.get('short')).to.equal(undefined);
    expect(await a.manager.wrap('short', () => Promise.resolve('again'))).to.equal('again');
    // Keyv's expiry and the cache's are read from two clock readings: one that Keyv sees past while the cache
    // still holds it fresh is a miss here too, before Keyv gets to delete it.
    const keyv = createKeyv(a.cache);
    await (keyv.store as KeyvCoherentStore).set('edge', { value: 'v', expires: Date.now() - 1 }, 60_000);
    expect(a.cache.has('edge')).to.equal(true);
    expect(await keyv.get('edge')).to.equal(undefined);
    expect(await a.manager.get('edge')).to.equal(undefined);
    expect(published).to.equal(0);
    expect(await b.manager.get('short')).to.equal('v');
  });

  it('del on one instance drops the key on the others; set stays on its instance (a fill, not a write)', async () => {
    const [a, b] = [await instance(), await instance()];
    await a.manager.wrap('user:1', () => Promise.resolve('v1'));
    await b.manager.wrap('user:1', () => Promise.resolve('v1'));
    await a.manager.set('user:1', 'v2');
    expect(await b.manager.get('user:1')).to.equal('v1');
    const dropped = waitForEvent(b.cache, 'the drop on b', remoteDrop('user:1'));
    await a.manager.del('user:1');
    await dropped;
    expect(await b.manager.get('user:1')).to.equal(undefined);
    expect(await b.manager.wrap('user:1', () => Promise.resolve('v2'))).to.equal('v2');
  });

  it('clear() drops every key on every instance', async () => {
    const [a, b] = [await instance(), await instance()];
    await b.manager.set('x', 1);
    await b.manager.set('y', 2);
    const cleared = waitForEvent(b.cache, 'the clear on b', (e) => e.type === 'invalidated' && e.origin === 'remote' && e.scope === 'all');
    await a.manager.clear();
    await cleared;
    expect(await b.manager.get('x')).to.equal(undefined);
    expect(await b.manager.get('y')).to.equal(undefined);
  });

  it('a fill that began before an invalidation of its key is not stored (here or from another instance)', async () => {
    const [a, b] = [await instance(), await instance()];
    for (const writer of [a, b]) {
      let release: (value: string) => void = () => undefined;
      let started: () => void = () => undefined;
      const loading = new Promise<void>((resolve) => (started = resolve));
      const filling = a.manager.wrap('race', () => {
        started();
        return new Promise<string>((resolve) => (release = resolve));
      });
      await loading; // the source was read before the write...
      const heard = writer === a ? Promise.resolve() : waitForEvent(a.cache, 'the drop on a', remoteDrop('race'));
      await writer.manager.del('race'); // ...the write's invalidation...
      await heard;
      release('stale'); // ...then the fill's set
      expect(await filling).to.equal('stale'); // its caller gets what it loaded
      expect(await a.manager.get('race'), `invalidated on ${writer === a ? 'this' : 'another'} instance`).to.equal(undefined);
      expect(a.cache.has('race')).to.equal(false);
      await delay(0);
    }
  });

  it('the hold lasts fillWindow after the latest miss before the invalidation; keys without a miss are not held', async () => {
    const { manager } = await instance({ fillWindow: 100 });
    expect(await manager.get('held')).to.equal(undefined); // a miss: a fill may be under way
    await manager.del('held');
    await manager.del('free'); // no miss: nothing to fence
    await manager.set('held', 'early');
    await manager.set('free', 'now');
    expect(await manager.get('held')).to.equal(undefined);
    expect(await manager.get('free')).to.equal('now');
    await delay(120);
    await manager.set('held', 'later');
    expect(await manager.get('held')).to.equal('later');
  });

  it('an invalidation it cannot publish makes del reject (throwOnErrors), as invalidate() does', async () => {
    const transport = bus.transport();
    const cache = createCache<unknown>({ name: 'keyv', transport, invalidateTimeout: 100, closeTimeout: 50, tracing: false, metrics: false });
    await cache.ready();
    const manager = createCacheManager({ stores: [createKeyv(cache)] });
    transport.disconnect();
    const error = await manager.del('k').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error | undefined)?.name).to.equal('InvalidationTimeoutError');
    await cache.close().catch(() => undefined);
  });

  it('KeyvCoherentStore is a plain Keyv store too', async () => {
    const { cache } = await instance();
    const keyv = new Keyv({ store: new KeyvCoherentStore(cache) });
    await keyv.set('k', { a: 1 });
    expect(await keyv.get('k')).to.deep.equal({ a: 1 });
    expect(await keyv.has('k')).to.equal(true);
    expect(await keyv.delete('k')).to.equal(true);
    expect(await keyv.get('k')).to.equal(undefined);
  });
});

describe('Keyv store across processes (real redis-server)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let peer: ChildWorker<KeyvPeerRequest, unknown, KeyvPeerPush>;
  let cache: Cache<unknown>;
  let transport: RedisTransport;
  let manager: CacheManager;

  before(async () => {
    redis = await startRedis();
    peer = await spawnChild<KeyvPeerRequest, unknown, KeyvPeerPush>(new URL('../fixtures/keyv-peer.ts', import.meta.url), [redis.url]);
    await peer.request({ op: 'ready' });
    transport = redisTransport({ url: redis.url });
    cache = createCache<unknown>({ name: 'keyv', transport, tracing: false, metrics: false });
    await cache.ready();
    manager = createCacheManager({ stores: [createKeyv(cache)] });
  });

  after(async () => {
    await cache?.close();
    await transport?.close();
    await peer?.stop();
    await redis?.stop();
  });

  it('del through cache-manager here drops the key in the other process, and the reverse; no value reaches Redis', async () => {
    const MARKER = 'value-that-must-stay-in-process';
    const sniffer = redis.client();
    const heard: string[] = [];
    sniffer.on('pmessage', (_pattern: string, channel: string, message: string) => heard.push(`${channel} ${message}`));
    await sniffer.connect();
    await sniffer.psubscribe('*');

    // Both processes fill the key through wrap (the peer's loader runs once).
    expect(await manager.wrap('config:1', () => Promise.resolve(`${MARKER}-v1`))).to.equal(`${MARKER}-v1`);
    expect(await peer.request({ op: 'wrap', key: 'config:1', value: `${MARKER}-v1` })).to.deep.equal({ value: `${MARKER}-v1`, loaded: true });
    expect(await peer.request({ op: 'wrap', key: 'config:1', value: 'unused' })).to.deep.equal({ value: `${MARKER}-v1`, loaded: false });

    // A write here: del reaches the other process.
    await manager.del('config:1');
    await peer.waitFor((m) => m.type === 'remote-invalidated' && m.key === 'config:1', { what: 'the drop in the peer' });
    expect(await peer.request({ op: 'get', key: 'config:1' })).to.equal(null);
    expect(await peer.request({ op: 'wrap', key: 'config:1', value: `${MARKER}-v2` })).to.deep.equal({ value: `${MARKER}-v2`, loaded: true });

    // And back: the peer's del drops it here.
    await manager.set('config:2', `${MARKER}-x`);
    const dropped = waitForEvent(cache, 'the drop here', remoteDrop('config:2'));
    expect(await peer.request({ op: 'del', key: 'config:2' })).to.equal(true);
    await dropped;
    expect(await manager.get('config:2')).to.equal(undefined);

    await waitUntil('the sniffer heard the invalidations', 5_000, () => heard.some((m) => m.includes('config:1')) && heard.some((m) => m.includes('config:2')), 20);
    expect(heard.filter((m) => m.includes(MARKER))).to.deep.equal([]);
    sniffer.disconnect();
  });
});
