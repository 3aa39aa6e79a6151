/**
 * The bounds of issue 15 through the cache's API: `maxSize` with `sizeOf`,
 * `eviction: 'sieve'` and `ttlJitter`, with their events, stats and replay.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { createCache, CacheOptionError, type CacheEvent } from '../../src/index.ts';
import { expectReplayMatches } from '../support/replay.ts';

const quiet = { metrics: false, tracing: false } as const;

function recorded<V>(cache: { subscribe(fn: (e: CacheEvent<V>) => void): () => void }): CacheEvent<V>[] {
  const events: CacheEvent<V>[] = [];
  cache.subscribe((event) => events.push(event));
  return events;
}

describe('cache: maxSize and sizeOf', () => {
  const sizeOf = (value: string): number => value.length;

  it('keeps the sum of the sizes at most maxSize, evicting least recently used values (reason size)', () => {
    const cache = createCache<string>({ name: 'sized', maxSize: 10, sizeOf, ...quiet });
    const events = recorded(cache);
    cache.set('a', 'aaaa');
    cache.set('b', 'bbbb');
    cache.getSync('a', () => 'unused');
    cache.set('c', 'cccccc');
    expect([cache.has('a'), cache.has('b'), cache.has('c')]).to.deep.equal([true, false, true]);
    expect(cache.stats()).to.deep.include({ entriesSize: 10, evicted: { capacity: 0, size: 1 } });
    expect(events.find((e) => e.type === 'evicted')).to.deep.include({ key: 'b', reason: 'size' });
    expectReplayMatches(cache, events);
  });

  it('refuses a value larger than maxSize, says so, and drops the value it would have replaced', async () => {
    const cache = createCache<string>({ name: 'sized', maxSize: 5, sizeOf, ...quiet });
    const events = recorded(cache);
    cache.set('k', 'small');
    cache.set('k', 'far too large');
    expect(cache.has('k')).to.equal(false);
    // A load's too-large value still answers its caller.
    expect(await cache.get('j', () => 'also too large')).to.equal('also too large');
    expect(cache.has('j')).to.equal(false);
    expect(events.filter((e) => e.type === 'store.refused')).to.deep.equal([
      { type: 'store.refused', key: 'k', at: events[1]?.at, source: 'set', size: 13, maxSize: 5 },
      { type: 'store.refused', key: 'j', at: (events.at(-1) as CacheEvent).at, source: 'load', size: 14, maxSize: 5 },
    ]);
    expect(cache.stats()).to.deep.include({ storeRefused: 2, entriesSize: 0, size: 0 });
    expectReplayMatches(cache, events);
  });

  it('a size that is not a whole number ≥ 0 throws from set, and fails a load (never cached)', async () => {
    for (const bad of [-1, 1.5, Number.NaN, '3']) {
      const cache = createCache<string>({ name: 'sized', maxSize: 5, sizeOf: () => bad as number, ...quiet });
      expect(() => cache.set('k', 'v'), String(bad)).to.throw(TypeError, /sizeOf must return a whole number ≥ 0/);
      let thrown: unknown;
      await cache.get('k', () => 'v').catch((error: unknown) => (thrown = error));
      expect(thrown, String(bad)).to.be.instanceOf(TypeError);
      expect(cache.has('k')).to.equal(false);
      expect(cache.stats().loads.error).to.equal(1);
    }
  });

  it('refuses maxSize without sizeOf, and sizeOf without maxSize, naming the option', () => {
    expect(() => createCache({ name: 'x', maxSize: 10 })).to.throw(CacheOptionError, /"maxSize" must come with sizeOf/);
    expect(() => createCache({ name: 'x', sizeOf: () => 1 })).to.throw(CacheOptionError, /"sizeOf" is not used without maxSize/);
  });

  it('sizeOf gets the value and its key, once per store and never on a hit', () => {
    const measure = sinon.fake((value: string, key: string) => value.length + key.length);
    const cache = createCache<string>({ name: 'sized', maxSize: 100, sizeOf: measure, ...quiet });
    cache.set('key', 'value');
    cache.getSync('key', () => 'unused');
    cache.getSync('key', () => 'unused');
    expect(measure.args).to.deep.equal([['value', 'key']]);
    expect(cache.stats().entriesSize).to.equal(8);
  });
});

describe("cache: eviction: 'sieve'", () => {
  /** Hot keys read between scans of keys never read again: SIEVE keeps the hot ones, LRU loses them to every scan. */
  function hotThroughScans(eviction: 'lru' | 'sieve'): { hotMisses: number; events: CacheEvent<number>[]; cache: ReturnType<typeof createCache<number>> } {
    const cache = createCache<number>({ name: `scan-${eviction}`, maxEntries: 8, eviction, ...quiet });
    const events = recorded(cache);
    const hot = ['h1', 'h2', 'h3', 'h4'];
    // Loaded once before the rounds: a key SIEVE spares is one read again while it was cached.
    for (const key of hot) cache.getSync(key, () => 0);
    let scanned = 0;
    for (let round = 0; round < 20; round++) {
      for (const key of hot) cache.getSync(key, () => round);
      for (let i = 0; i < 6; i++) cache.getSync(`scan-${scanned++}`, () => -1);
    }
    const stats = cache.stats();
    return { hotMisses: stats.misses.absent - scanned - hot.length, events, cache };
  }

  it('keeps hot keys through scans that flush an LRU of the same size', () => {
    const sieve = hotThroughScans('sieve');
    const lru = hotThroughScans('lru');
    expect(lru.hotMisses).to.be.greaterThan(70);
    expect(sieve.hotMisses).to.equal(0);
    expect(sieve.cache.stats().evicted.capacity).to.be.greaterThan(100);
  });

  it('replays to its snapshot, hand and marks included', () => {
    const { events, cache } = hotThroughScans('sieve');
    const snapshot = cache.snapshot();
    expect(snapshot.sieveHand).to.be.a('string');
    expect(snapshot.entries.filter((entry) => entry.visited === true).map((entry) => entry.key)).to.not.deep.equal([]);
    expectReplayMatches(cache, events);
  });
});

describe('cache: ttlJitter', () => {
  let clock: sinon.SinonFakeTimers;
  let random: sinon.SinonStub;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 10_000 });
    random = sinon.stub(Math, 'random');
  });
  afterEach(() => {
    random.restore();
    clock.restore();
  });

  it('moves each stored ttl by up to ±ttlJitter, decided by the shell and carried in the stored event', async () => {
    const cache = createCache<string>({ name: 'jitter', ttl: 1_000, ttlJitter: 100, ...quiet });
    const events = recorded(cache);
    random.returns(0);
    cache.set('low', 'v');
    random.returns(0.75);
    await cache.get('high', () => 'v');
    const expiries = events.flatMap((e) => (e.type === 'stored' ? [[e.key, e.expiresAt]] : []));
    expect(expiries).to.deep.equal([
      ['low', 10_900],
      ['high', 11_050],
    ]);
    clock.tick(900);
    expect([cache.has('low'), cache.has('high')]).to.deep.equal([false, true]);
    expectReplayMatches(cache, events);
  });

  it('never moves a ttl by more than half of it (a per-call ttl shorter than the jitter)', () => {
    const cache = createCache<string>({ name: 'jitter', ttl: 1_000, ttlJitter: 500, ...quiet });
    const events = recorded(cache);
    random.returns(0);
    cache.set('k', 'v', { ttl: 100 });
    expect(events[0]).to.deep.include({ type: 'stored', expiresAt: 10_050 });
  });

  it('without ttlJitter, draws no random number and stores the exact ttl', () => {
    const cache = createCache<string>({ name: 'exact', ttl: 1_000, ...quiet });
    cache.set('k', 'v');
    expect(random.called).to.equal(false);
    expect(cache.snapshot().entries[0]?.expiresAt).to.equal(11_000);
  });
});
