/**
 * The loads of issue 15 through the cache's API, on sinon's fake clock (no
 * sleeps): stale-while-revalidate, refresh-ahead and what a loader decides on
 * its context, with their events, stats and replay.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { createCache, type CacheEvent, type LoadContext } from '../../src/index.ts';
import { expectReplayMatches } from '../support/replay.ts';

const quiet = { metrics: false, tracing: false } as const;

function recorded<V>(cache: { subscribe(fn: (e: CacheEvent<V>) => void): () => void }): CacheEvent<V>[] {
  const events: CacheEvent<V>[] = [];
  cache.subscribe((event) => events.push(event));
  return events;
}

/** A loader whose calls resolve when the test says. */
function heldLoader(): { loader: () => Promise<string>; calls: PromiseWithResolvers<string>[] } {
  const calls: PromiseWithResolvers<string>[] = [];
  return {
    calls,
    loader: () => {
      const call = Promise.withResolvers<string>();
      calls.push(call);
      return call.promise;
    },
  };
}

/** Lets settled loaders' continuations run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('cache: staleWhileRevalidate', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
  });
  afterEach(() => clock.restore());

  it('serves the expired value at once while one background load revalidates it, then the new value', async () => {
    const cache = createCache<string>({ name: 'swr', ttl: 1_000, staleWhileRevalidate: 5_000, ...quiet });
    const events = recorded(cache);
    await cache.get('k', () => 'v1');
    clock.tick(2_000);
    const { loader, calls } = heldLoader();
    // Many reads across the expiry: none waits, one loader call.
    const reads = await Promise.all([cache.get('k', loader), cache.get('k', loader), cache.get('k', loader)]);
    expect(reads).to.deep.equal(['v1', 'v1', 'v1']);
    expect(calls).to.have.length(1);
    calls[0]!.resolve('v2');
    await flush();
    expect(await cache.get('k', loader)).to.equal('v2');
    expect(calls).to.have.length(1);
    expect(cache.stats()).to.deep.include({ staleServed: { swr: 3, error: 0 }, loadStarted: { miss: 1, refresh: 0, swr: 1 } });
    expect(cache.stats().loads.ok).to.equal(2);
    expectReplayMatches(cache, events);
  });

  it('is fenced: an invalidation during the background load keeps its value out, and an invalidated value is never served stale', async () => {
    const cache = createCache<string>({ name: 'swr', ttl: 1_000, staleWhileRevalidate: 5_000, ...quiet });
    const events = recorded(cache);
    await cache.get('k', () => 'v1');
    clock.tick(2_000);
    const { loader, calls } = heldLoader();
    expect(await cache.get('k', loader)).to.equal('v1');
    await cache.invalidate('k');
    calls[0]!.resolve('loaded before the write');
    await flush();
    expect(cache.peek('k')).to.equal(undefined);
    expect(cache.stats().loadDiscarded).to.equal(1);
    // The invalidated entry: the read waits for its own load.
    const next = cache.get('k', loader);
    expect(calls).to.have.length(2);
    calls[1]!.resolve('v3');
    expect(await next).to.equal('v3');
    expectReplayMatches(cache, events);
  });

  it('past the window the read waits for its loader; per call, get and set take their own window', async () => {
    const cache = createCache<string>({ name: 'swr', ttl: 1_000, ...quiet });
    await cache.get('k', () => 'v1', { staleWhileRevalidate: 500 });
    cache.set('s', 's1', { staleWhileRevalidate: 5_000 });
    clock.tick(1_200);
    const { loader, calls } = heldLoader();
    expect(await cache.get('k', loader)).to.equal('v1');
    expect(await cache.get('s', loader)).to.equal('s1');
    calls[0]!.resolve('v2');
    calls[1]!.resolve('s2');
    await flush();
    clock.tick(1_600);
    // 'k' (v2, stored at 1 200 with the cache's window, 0) expired at 2 200: the read waits.
    const waiting = cache.get('k', loader);
    expect(calls).to.have.length(3);
    calls[2]!.resolve('v3');
    expect(await waiting).to.equal('v3');
    expect(() => cache.set('x', 'x', { staleWhileRevalidate: -1 })).to.throw(/staleWhileRevalidate/);
  });

  it('a failing background load is no unhandled rejection: the value stays stale until its window ends', async () => {
    const cache = createCache<string>({ name: 'swr', ttl: 1_000, staleWhileRevalidate: 5_000, ...quiet });
    const unhandled = sinon.spy();
    process.on('unhandledRejection', unhandled);
    try {
      await cache.get('k', () => 'v1');
      clock.tick(2_000);
      expect(await cache.get('k', () => Promise.reject(new Error('down')))).to.equal('v1');
      await flush();
      expect(unhandled.called).to.equal(false);
      expect(cache.stats().loads.error).to.equal(1);
      expect(await cache.get('k', () => 'v2')).to.equal('v1');
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});

describe('cache: refreshAhead', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
  });
  afterEach(() => clock.restore());

  it('a hit after the fraction of the ttl serves the current value and starts one background reload', async () => {
    const cache = createCache<string>({ name: 'ahead', ttl: 1_000, refreshAhead: 0.8, ...quiet });
    const events = recorded(cache);
    await cache.get('k', () => 'v1');
    const { loader, calls } = heldLoader();
    clock.tick(799);
    expect(await cache.get('k', loader)).to.equal('v1');
    expect(calls).to.have.length(0);
    clock.tick(1);
    expect(await Promise.all([cache.get('k', loader), cache.get('k', loader)])).to.deep.equal(['v1', 'v1']);
    expect(calls).to.have.length(1);
    calls[0]!.resolve('v2');
    await flush();
    // Stored at 800: fresh until 1 800, refreshed again from 1 600.
    clock.tick(700);
    expect(await cache.get('k', loader)).to.equal('v2');
    expect(calls).to.have.length(1);
    expect(cache.stats()).to.deep.include({ hits: 4, loadStarted: { miss: 1, refresh: 1, swr: 0 } });
    expectReplayMatches(cache, events);
  });

  it('is fenced: an invalidation during the reload keeps its value out', async () => {
    const cache = createCache<string>({ name: 'ahead', ttl: 1_000, refreshAhead: 0.5, ...quiet });
    await cache.get('k', () => 'v1');
    clock.tick(600);
    const { loader, calls } = heldLoader();
    expect(await cache.get('k', loader)).to.equal('v1');
    await cache.invalidate('k');
    calls[0]!.resolve('stale reload');
    await flush();
    expect(cache.peek('k')).to.equal(undefined);
  });

  it('the hit fast path and decide agree (with a hit listener every read goes through decide)', async () => {
    const caches = [createCache<string>({ name: 'fast', ttl: 1_000, refreshAhead: 0.5, ...quiet }), createCache<string>({ name: 'decided', ttl: 1_000, refreshAhead: 0.5, ...quiet })];
    caches[1]!.on('hit', () => undefined);
    for (const cache of caches) {
      await cache.get('k', () => 'v1');
    }
    clock.tick(500);
    for (const cache of caches) expect(await cache.get('k', () => 'v2')).to.equal('v1');
    await flush();
    for (const cache of caches) expect(cache.peek('k')).to.equal('v2');
    expect(caches[0]!.snapshot()).to.deep.equal(caches[1]!.snapshot());
  });

  it('getSync never refreshes (a sync loader cannot run in the background)', () => {
    const cache = createCache<string>({ name: 'ahead', ttl: 1_000, refreshAhead: 0.5, ...quiet });
    cache.set('k', 'v1');
    clock.tick(600);
    const loader = sinon.spy(() => 'v2');
    expect(cache.getSync('k', loader)).to.equal('v1');
    expect(loader.called).to.equal(false);
  });
});

describe('cache: the loader decides (ctx.ttl, ctx.staleIfError)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
  });
  afterEach(() => clock.restore());

  it("ctx.ttl sets the value's expiry (the stored event carries it); ctx starts with the call's ttl and the cache's staleIfError", async () => {
    const cache = createCache<string>({ name: 'adaptive', ttl: 1_000, staleIfError: 10, ...quiet });
    const events = recorded(cache);
    let seen: { ttl: number; staleIfError: number } | undefined;
    await cache.get(
      'token',
      (_key, ctx: LoadContext) => {
        seen = { ttl: ctx.ttl, staleIfError: ctx.staleIfError };
        ctx.ttl = 30_000;
        return 'tok';
      },
      { ttl: 2_000 },
    );
    expect(seen).to.deep.equal({ ttl: 2_000, staleIfError: 10 });
    expect(events.find((e) => e.type === 'stored')).to.deep.include({ expiresAt: 30_000 });
    clock.tick(29_999);
    expect(cache.peek('token')).to.equal('tok');
    clock.tick(1);
    expect(cache.peek('token')).to.equal(undefined);
    expectReplayMatches(cache, events);
  });

  it("ctx.staleIfError sets the value's own window, which a later failing load honours", async () => {
    const cache = createCache<string>({ name: 'adaptive', ttl: 1_000, ...quiet });
    await cache.get('k', (_key, ctx) => {
      ctx.staleIfError = 60_000;
      return 'v1';
    });
    clock.tick(30_000);
    expect(await cache.get('k', () => Promise.reject(new Error('down')))).to.equal('v1');
    expect(cache.stats().staleServed).to.deep.equal({ swr: 0, error: 1 });
  });

  it('a bad ctx.ttl fails the load (never cached), naming it', async () => {
    const cache = createCache<string>({ name: 'adaptive', ...quiet });
    const [result] = await Promise.allSettled([
      cache.get('k', (_key, ctx) => {
        ctx.ttl = -5;
        return 'v';
      }),
    ]);
    expect(result.status).to.equal('rejected');
    expect((result as PromiseRejectedResult).reason).to.be.instanceOf(TypeError).with.property('message').that.matches(/ctx\.ttl/);
    expect(cache.peek('k')).to.equal(undefined);
  });
});
