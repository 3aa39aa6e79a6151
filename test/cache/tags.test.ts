/**
 * Tags, soft invalidation and namespaces through the cache's API: on one
 * instance, and across instances over the in-memory transport (one message
 * per call, the retry queue, the legacy channel). Against a real
 * redis-server: test/transports/redis-tags.test.ts.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { CacheKeyError, createCache, LEGACY_CHANNEL, replay, replayStats, type CacheEvent } from '../../src/index.ts';
import { rejectionOf } from '../support/rejection.ts';
import { memoryInstances } from '../support/memory-instances.ts';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function counting(value: string) {
  return sinon.fake(() => Promise.resolve(value));
}

describe('cache: tags', () => {
  it('invalidateTag drops every value carrying the tag, from get and set alike, and nothing else', async () => {
    const cache = createCache<string>({ name: 'tags', metrics: false });
    cache.set('a', 'A', { tags: ['user:1'] });
    await cache.get('b', () => Promise.resolve('B'), { tags: ['user:1', 'org:9'] });
    await cache.get('c', () => Promise.resolve('C'), { tags: ['org:9'] });
    cache.set('d', 'D');
    await cache.invalidateTag('user:1');
    expect([cache.peek('a'), cache.peek('b'), cache.peek('c'), cache.peek('d')]).to.deep.equal([undefined, undefined, 'C', 'D']);
    expect(cache.stats().invalidated.local.tag).to.equal(1);
    await cache.invalidateTag('org:9');
    expect(cache.has('c')).to.equal(false);
  });

  it('the loader sets ctx.tags; it starts with the read\'s tags', async () => {
    const cache = createCache<string>({ name: 'tags', metrics: false });
    await cache.get(
      'k',
      (_key, ctx) => {
        expect(ctx.tags).to.deep.equal(['a']);
        ctx.tags.push('b');
        return Promise.resolve('v');
      },
      { tags: ['a'] },
    );
    expect(cache.snapshot().tags).to.deep.equal([
      ['a', ['k']],
      ['b', ['k']],
    ]);
    await cache.invalidateTag('b');
    expect(cache.has('k')).to.equal(false);
  });

  it('a load in flight when its tag is invalidated answers its callers but is not stored, and no later read joins it', async () => {
    const cache = createCache<string>({ name: 'tags', metrics: false });
    const held = Promise.withResolvers<string>();
    const first = cache.get('k', async (_key, ctx) => {
      const value = await held.promise;
      ctx.tags = ['t'];
      return value;
    });
    await cache.invalidateTag('t');
    const second = counting('fresh');
    const later = cache.get('k', second);
    held.resolve('old');
    expect(await first).to.equal('old');
    expect(await later).to.equal('fresh');
    expect(second.callCount).to.equal(1);
    expect(cache.peek('k')).to.equal('fresh');
    expect(cache.stats().loadDiscarded).to.equal(1);
  });

  it('refuses bad tags before anything happens; a bad ctx.tags fails the load, which is not cached', async () => {
    const cache = createCache<string>({ name: 'tags', metrics: false });
    expect(() => cache.set('k', 'v', { tags: [''] })).to.throw(TypeError);
    expect(() => cache.set('k', 'v', { tags: 'x' as unknown as string[] })).to.throw(TypeError, /array/);
    expect(() => cache.set('k', 'v', { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) })).to.throw(RangeError, /64/);
    expect(await rejectionOf(cache.invalidateTag(''))).to.be.instanceOf(TypeError);
    const error = await rejectionOf(
      cache.get('k', (_key, ctx) => {
        ctx.tags = [42 as unknown as string];
        return Promise.resolve('v');
      }),
    );
    expect(error).to.be.instanceOf(TypeError);
    expect(cache.has('k')).to.equal(false);
  });

  it('a replay of the events rebuilds the tag index; stats replay too', async () => {
    const cache = createCache<string>({ name: 'tags', metrics: false });
    const events: CacheEvent<string>[] = [];
    cache.subscribe((event) => events.push(event));
    cache.set('a', 'A', { tags: ['t'] });
    cache.set('b', 'B', { tags: ['t', 'u'] });
    await cache.expireTag('u');
    await cache.invalidateTag('t');
    cache.set('c', 'C', { tags: ['u'] });
    expect(replay(events)).to.deep.equal(cache.snapshot());
    const { size: _size, entriesSize: _e, loadsInFlight: _l, listenerErrors: _le, link: _link, publishQueueDepth: _q, peers: _p, ...counters } = cache.stats();
    expect(replayStats(events)).to.deep.equal(counters);
  });
});

describe('cache: soft invalidation (expire, expireTag)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => clock.restore());

  it('expire: the next read loads; should that load fail, the stale value is served within staleIfError', async () => {
    const cache = createCache<string>({ name: 'soft', staleIfError: 1_000, metrics: false });
    cache.set('k', 'old');
    await cache.expire('k');
    expect(cache.has('k')).to.equal(false);
    expect(cache.getSync('k', () => 'new')).to.equal('new');
    await cache.expire('k');
    expect(await cache.get('k', () => Promise.reject(new Error('down')))).to.equal('new');
    expect(cache.stats().loadServedStale).to.equal(1);
    expect(cache.stats().invalidatedSoft.local.key).to.equal(2);
    clock.tick(1_001);
    expect(await rejectionOf(cache.get('k', () => Promise.reject(new Error('down'))))).to.have.property('message', 'down');
  });

  it('the hit path never serves a value made stale, even within the same millisecond', () => {
    const cache = createCache<string>({ name: 'soft', metrics: false });
    cache.set('k', 'old');
    expect(cache.getSync('k', () => 'unused')).to.equal('old');
    void cache.expire('k');
    expect(cache.getSync('k', () => 'new')).to.equal('new');
  });

  it('a value made stale by expire is not served while it revalidates (staleWhileRevalidate): the read waits for its load', async () => {
    const cache = createCache<string>({ name: 'soft', staleWhileRevalidate: 60_000, staleIfError: 60_000, metrics: false });
    cache.set('k', 'old');
    await cache.expire('k');
    expect(await cache.get('k', () => Promise.resolve('new'))).to.equal('new');
    await cache.expire('k');
    expect(await cache.get('k', () => Promise.reject(new Error('down')))).to.equal('new');
  });

  it('expireTag stales every value carrying the tag', async () => {
    const cache = createCache<string>({ name: 'soft', staleIfError: 1_000, metrics: false });
    cache.set('a', 'A', { tags: ['t'] });
    cache.set('b', 'B');
    await cache.expireTag('t');
    expect([cache.has('a'), cache.has('b')]).to.deep.equal([false, true]);
    expect(await cache.get('a', () => Promise.reject(new Error('down')))).to.equal('A');
  });
});

describe('cache: namespaces', () => {
  it('a namespace prefixes its keys and tags; its loader sees its own key and tags', async () => {
    const cache = createCache<string>({ name: 'ns', metrics: false });
    const tenant = cache.namespace('tenant:42');
    const seen: unknown[] = [];
    expect(
      await tenant.get(
        'cfg',
        (key, ctx) => {
          seen.push(key, [...ctx.tags]);
          ctx.tags.push('extra');
          return Promise.resolve('v');
        },
        { tags: ['t'] },
      ),
    ).to.equal('v');
    expect(seen).to.deep.equal(['cfg', ['t']]);
    expect(cache.peek('tenant:42:cfg')).to.equal('v');
    expect(cache.snapshot().tags?.map(([tag]) => tag)).to.deep.equal(['tenant:42:extra', 'tenant:42:t']);
    expect(tenant.getSync('cfg', () => 'unused')).to.equal('v');
    expect(tenant.has('cfg')).to.equal(true);
  });

  it("invalidateAll reaches only the namespace's keys (nested namespaces included), its tags only its values", async () => {
    const cache = createCache<string>({ name: 'ns', metrics: false });
    const a = cache.namespace('a');
    const b = cache.namespace('b');
    a.set('k', 'a', { tags: ['t'] });
    a.namespace('inner').set('k', 'a-inner');
    b.set('k', 'b', { tags: ['t'] });
    cache.set('a', 'root');
    await b.invalidateTag('t');
    expect([a.peek('k'), b.peek('k')]).to.deep.equal(['a', undefined]);
    b.set('k', 'b');
    await a.invalidateAll();
    expect([a.peek('k'), a.namespace('inner').peek('k'), b.peek('k'), cache.peek('a')]).to.deep.equal([undefined, undefined, 'b', 'root']);
    expect(cache.stats().invalidated.local.prefix).to.equal(1);
    expect(() => cache.namespace('')).to.throw(TypeError);
  });

  it('expire and invalidate in a namespace name its own key', async () => {
    const cache = createCache<string>({ name: 'ns', metrics: false });
    const a = cache.namespace('a');
    a.set('k', '1');
    cache.set('k', 'root');
    await a.invalidate('k');
    expect([a.peek('k'), cache.peek('k')]).to.deep.equal([undefined, 'root']);
    a.set('k', '1');
    await a.expire('k');
    expect([a.has('k'), cache.has('k')]).to.deep.equal([false, true]);
  });
});

describe('tags, namespaces and expire across instances (in-memory transport)', () => {
  const memory = memoryInstances({ name: 'scoped' });
  const { instance } = memory;

  it('invalidateTag, expire, expireTag and a namespace invalidateAll each go out as one message and apply on the peer', async () => {
    const transport = memory.bus.transport();
    const publish = sinon.spy(transport, 'publish');
    const a = await instance({ staleIfError: 60_000 }, transport);
    const b = await instance({ staleIfError: 60_000 });
    for (const cache of [a, b]) {
      cache.set('t1', '1', { tags: ['t'] });
      cache.set('t2', '2', { tags: ['t'] });
      cache.set('k', 'k');
      cache.set('s', 's', { tags: ['soft'] });
      cache.namespace('ns').set('x', 'x');
      cache.set('other', 'o');
    }
    publish.resetHistory();
    await a.invalidateTag('t');
    await a.expire('k');
    await a.expireTag('soft');
    await a.namespace('ns').invalidateAll();
    await settle();
    const sent = publish.getCalls().flatMap((call) => call.args[1]).filter((payload) => !payload.includes('"op":"beat"'));
    expect(sent.map((payload) => (JSON.parse(payload) as { op: string }).op)).to.deep.equal(['tag', 'expire', 'expire-tag', 'prefix']);
    expect([b.has('t1'), b.has('t2'), b.has('k'), b.has('s'), b.namespace('ns').has('x'), b.has('other')]).to.deep.equal([false, false, false, false, false, true]);
    // Soft on the peer too: the stale values are kept for a failing reload.
    expect(await b.get('k', () => Promise.reject(new Error('down')))).to.equal('k');
    expect(await b.get('s', () => Promise.reject(new Error('down')))).to.equal('s');
    expect(b.stats().invalidated.remote).to.deep.equal({ key: 1, all: 0, tag: 2, prefix: 1 });
    expect(b.stats().invalidatedSoft.remote).to.deep.equal({ key: 1, tag: 1 });
  });

  it('invalidations of one tick share messages by kind', async () => {
    const transport = memory.bus.transport();
    const publish = sinon.spy(transport, 'publish');
    const a = await instance({}, transport);
    publish.resetHistory();
    await Promise.all([a.invalidateTag('t'), a.invalidateTag('u'), a.invalidate('k'), a.expire('e')]);
    const sent = publish.getCalls().flatMap((call) => call.args[1]).filter((payload) => !payload.includes('"op":"beat"'));
    const messages = sent.map((payload) => JSON.parse(payload) as { op: string; keys?: string[]; tags?: string[] });
    expect(messages.map((message) => [message.op, message.keys ?? message.tags])).to.deep.equal([
      ['del', ['k']],
      ['tag', ['t', 'u']],
      ['expire', ['e']],
    ]);
  });

  it('a tag whose publish failed is retried as a clear (the retry queue holds keys), and its caller is answered by that send', async () => {
    const transport = memory.bus.transport();
    const a = await instance({ retryInterval: 10 }, transport);
    const b = await instance();
    b.set('x', 'x');
    const publish = sinon.stub(transport, 'publish').rejects(new Error('down'));
    const pending = a.invalidateTag('t');
    await settle();
    expect(a.stats().publishQueueDepth).to.equal(1);
    expect(a.snapshot().retryQueue).to.deep.equal({ keys: [], clear: true });
    publish.restore();
    await pending;
    await settle();
    expect(b.has('x')).to.equal(false);
  });

  it('with the legacy channel, a tag or a namespace is a clear to old peers and an expire a delete', async () => {
    const transport = memory.bus.transport();
    const publish = sinon.spy(transport, 'publish');
    const a = await instance({ legacyChannel: LEGACY_CHANNEL }, transport);
    publish.resetHistory();
    await a.expire('k');
    await a.invalidateTag('t');
    const legacy = publish.getCalls().filter((call) => call.args[0] === LEGACY_CHANNEL).map((call) => call.args[1]);
    expect(legacy).to.deep.equal([[JSON.stringify({ slotId: 'k', _origin: a.instanceId })], [JSON.stringify({ slotId: '*', _origin: a.instanceId })]]);
  });

  it('refuses a tag no message could carry', async () => {
    const a = await instance({ messageLimits: { maxKeyLength: 8 } });
    expect(await rejectionOf(a.invalidateTag('123456789'))).to.be.instanceOf(CacheKeyError);
    expect(await rejectionOf(a.namespace('12345678').invalidateAll())).to.be.instanceOf(CacheKeyError);
  });
});
