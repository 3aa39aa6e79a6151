import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import sinon from 'sinon';
import { createCache, type CacheEvent } from '../../src/index.ts';
import { runChecked } from '../support/child.ts';
import { rejectionOf } from '../support/rejection.ts';

/** A loader the test resolves or rejects by hand. */
function heldLoader<V>() {
  const calls: PromiseWithResolvers<V>[] = [];
  const loader = () => {
    const call = Promise.withResolvers<V>();
    calls.push(call);
    return call.promise;
  };
  return { loader, calls };
}

function recordEvents<V>(cache: { subscribe(fn: (e: CacheEvent<V>) => void): () => void }): CacheEvent<V>[] {
  const events: CacheEvent<V>[] = [];
  cache.subscribe((event) => events.push(event));
  return events;
}

describe('cache: read-through', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => clock.restore());

  it('loads on a miss, then hits without calling the loader', async () => {
    const cache = createCache<string>({ name: 'rt' });
    const loader = sinon.fake.resolves('v1');
    expect(await cache.get('a', loader)).to.equal('v1');
    expect(await cache.get('a', loader)).to.equal('v1');
    expect(loader.callCount).to.equal(1);
    expect(loader.firstCall.args[0]).to.equal('a');
    const stats = cache.stats();
    expect(stats.hits).to.equal(1);
    expect(stats.misses.absent).to.equal(1);
    expect(stats.loads.ok).to.equal(1);
    expect(stats.size).to.equal(1);
  });

  it('accepts a synchronous loader in get()', async () => {
    const cache = createCache<number>({ name: 'rt' });
    expect(await cache.get('a', () => 42)).to.equal(42);
    expect(cache.peek('a')).to.equal(42);
  });

  it('caches null like any other value', async () => {
    const cache = createCache<string | null>({ name: 'rt' });
    const loader = sinon.fake.resolves(null);
    expect(await cache.get('a', loader)).to.equal(null);
    expect(await cache.get('a', loader)).to.equal(null);
    expect(loader.callCount).to.equal(1);
    expect(cache.has('a')).to.equal(true);
  });

  it('shares one in-flight load between concurrent callers', async () => {
    const cache = createCache<string>({ name: 'rt' });
    const { loader, calls } = heldLoader<string>();
    const callers = [cache.get('k', loader), cache.get('k', loader), cache.get('k', loader)];
    expect(calls).to.have.length(1);
    calls[0]!.resolve('shared');
    expect(await Promise.all(callers)).to.deep.equal(['shared', 'shared', 'shared']);
    const loaded = cache.recentEvents().find((e) => e.type === 'loaded');
    expect(loaded).to.include({ outcome: 'ok', waiters: 3 });
    expect(cache.stats().loadJoined).to.equal(2);
  });

  it('never caches a loader error, and every waiting caller gets it', async () => {
    const cache = createCache<string>({ name: 'rt' });
    const { loader, calls } = heldLoader<string>();
    const first = cache.get('k', loader);
    const second = cache.get('k', loader);
    const boom = new Error('backend down');
    calls[0]!.reject(boom);
    expect(await rejectionOf(first)).to.equal(boom);
    expect(await rejectionOf(second)).to.equal(boom);
    expect(cache.has('k')).to.equal(false);
    expect(await cache.get('k', () => 'recovered')).to.equal('recovered');
    expect(cache.stats().loads).to.deep.equal({ ok: 1, error: 1, timeout: 0 });
  });

  it('turns a loader that throws synchronously into a rejection', async () => {
    const cache = createCache<string>({ name: 'rt' });
    const error = new RangeError('sync');
    const result = cache.get('k', () => {
      throw error;
    });
    const settled = await Promise.allSettled([result]);
    expect((settled[0] as PromiseRejectedResult).reason).to.equal(error);
    const loaded = cache.recentEvents().find((e) => e.type === 'loaded');
    expect(loaded).to.include({ outcome: 'error', errorName: 'RangeError' });
  });

  it('records a loader error by class name, and a name that is not one as "Error"', async () => {
    const cache = createCache<string>({ name: 'rt' });
    const sneaky = new Error('x');
    sneaky.name = 'password=hunter2 for db';
    await cache.get('a', () => Promise.reject(sneaky)).catch(() => undefined);
    await cache.get('b', () => Promise.reject(new RangeError('x'))).catch(() => undefined);
    const names = cache.recentEvents().flatMap((e) => (e.type === 'loaded' && e.errorName !== undefined ? [e.errorName] : []));
    expect(names).to.deep.equal(['Error', 'RangeError']);
  });

  it('rejects non-string keys and missing loaders with a clear error', async () => {
    const cache = createCache<string>({ name: 'rt' });
    expect((await rejectionOf(cache.get(42 as unknown as string, () => 'x'))).message).to.match(/keys are strings/);
    expect((await rejectionOf(cache.get('k', undefined as unknown as () => string))).message).to.match(/loader must be a function/);
  });
});

describe('cache: getSync', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 5_000 });
  });
  afterEach(() => clock.restore());

  it('reads through synchronously with the same events as get()', () => {
    const cache = createCache<string>({ name: 'sync' });
    const events = recordEvents(cache);
    const loader = sinon.fake.returns('v');
    expect(cache.getSync('a', loader)).to.equal('v');
    expect(cache.getSync('a', loader)).to.equal('v');
    expect(loader.callCount).to.equal(1);
    expect(events.map((e) => e.type)).to.deep.equal(['miss', 'load.started', 'loaded', 'stored', 'hit']);
  });

  it('throws the loader error and caches nothing', () => {
    const cache = createCache<string>({ name: 'sync' });
    expect(() =>
      cache.getSync('a', () => {
        throw new Error('nope');
      }),
    ).to.throw('nope');
    expect(cache.has('a')).to.equal(false);
  });

  it('refuses an async loader instead of caching a promise', () => {
    const cache = createCache<unknown>({ name: 'sync' });
    expect(() => cache.getSync('a', () => Promise.resolve(1))).to.throw(/returned a promise; use get\(\)/);
    expect(cache.has('a')).to.equal(false);
  });
});

describe('cache: ttl under fake timers', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 10_000 });
  });
  afterEach(() => clock.restore());

  it('serves a value until its ttl, then reloads and says the miss was an expiry', async () => {
    const cache = createCache<number>({ name: 'ttl', ttl: 1_000 });
    let version = 0;
    const loader = () => ++version;
    expect(await cache.get('k', loader)).to.equal(1);
    clock.tick(999);
    expect(await cache.get('k', loader)).to.equal(1);
    clock.tick(1);
    expect(cache.has('k')).to.equal(false);
    expect(await cache.get('k', loader)).to.equal(2);
    const stats = cache.stats();
    expect(stats.misses).to.deep.equal({ absent: 1, expired: 1, invalidated: 0 });
    expect(stats.expired).to.equal(1);
  });

  it('honours a per-entry ttl on set() and get()', async () => {
    const cache = createCache<string>({ name: 'ttl', ttl: 60_000 });
    cache.set('short', 's', { ttl: 100 });
    await cache.get('long', () => 'l', { ttl: 200 });
    clock.tick(150);
    expect(cache.peek('short')).to.equal(undefined);
    expect(cache.peek('long')).to.equal('l');
    clock.tick(50);
    expect(cache.peek('long')).to.equal(undefined);
  });

  it('follows the fake clock in a synchronous test, tick by tick', () => {
    const cache = createCache<string>({ name: 'ttl', ttl: 5 });
    cache.set('k', 'v');
    for (let elapsed = 0; elapsed < 5; elapsed++) {
      expect(cache.peek('k'), `after ${elapsed} ms`).to.equal('v');
      clock.tick(1);
    }
    expect(cache.peek('k')).to.equal(undefined);
  });

  it('sees a setSystemTime jump past the ttl at once: has, peek and get (no tick, so no timer fires)', async () => {
    const cache = createCache<string>({ name: 'jump', ttl: 1_000 });
    cache.set('k', 'v');
    expect(cache.has('k')).to.equal(true);
    expect(await cache.get('k', () => 'unused')).to.equal('v');
    clock.setSystemTime(Date.now() + 1_000);
    expect(cache.has('k')).to.equal(false);
    expect(cache.peek('k')).to.equal(undefined);
    expect(await cache.get('k', () => 'reloaded')).to.equal('reloaded');
  });
});

describe('cache: timers', () => {
  it('starts no timer that keeps the process alive', async () => {
    // A real child process: with a ref'd 10-minute load timeout pending it would not exit.
    const { stdout } = await runChecked(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../fixtures/idle-cache.ts', import.meta.url))], {
      timeoutMs: 15_000,
    });
    expect(stdout).to.equal('armed\n');
  });
});

describe('cache: capacity', () => {
  it('evicts the least recently used key at maxEntries', () => {
    const cache = createCache<string>({ name: 'lru', maxEntries: 3 });
    cache.set('a', 'A');
    cache.set('b', 'B');
    cache.set('c', 'C');
    cache.getSync('a', () => 'unused'); // a is now most recent; b is least recent
    cache.set('d', 'D');
    expect(cache.has('b')).to.equal(false);
    expect(['a', 'c', 'd'].map((k) => cache.has(k))).to.deep.equal([true, true, true]);
    expect(cache.stats().evicted).to.deep.equal({ capacity: 1, size: 0 });
    expect(cache.recentEvents().find((e) => e.type === 'evicted')).to.include({ key: 'b', reason: 'capacity' });
  });

  it('reclaims an invalidated slot before evicting any value', async () => {
    const cache = createCache<string>({ name: 'lru', maxEntries: 3 });
    cache.set('a', 'A');
    cache.set('b', 'B');
    cache.set('c', 'C');
    await cache.invalidate('c');
    cache.set('d', 'D');
    expect(['a', 'b', 'd'].map((k) => cache.has(k))).to.deep.equal([true, true, true]);
    expect(cache.stats().evicted).to.deep.equal({ capacity: 0, size: 0 });
    expect(cache.recentEvents().find((e) => e.type === 'evicted')).to.include({ key: 'c', reason: 'tombstone' });
  });
});

describe('cache: invalidation', () => {
  it('read-your-writes: after invalidate resolves, the next get loads', async () => {
    const cache = createCache<number>({ name: 'inv' });
    let version = 0;
    const loader = () => ++version;
    await cache.get('k', loader);
    await cache.invalidate('k');
    expect(await cache.get('k', loader)).to.equal(2);
    expect(cache.stats().misses.invalidated).to.equal(1);
    expect(cache.stats().invalidated.local).to.deep.include({ key: 1, all: 0 });
  });

  it('invalidateAll drops every entry', async () => {
    const cache = createCache<string>({ name: 'inv' });
    cache.set('a', 'A');
    cache.set('b', 'B');
    await cache.invalidateAll();
    expect(cache.has('a') || cache.has('b')).to.equal(false);
    expect(cache.stats().size).to.equal(0);
  });

  it('clear() is a local reset that keeps the counters', () => {
    const cache = createCache<string>({ name: 'inv' });
    cache.set('a', 'A');
    cache.getSync('a', () => 'x');
    cache.clear();
    expect(cache.has('a')).to.equal(false);
    expect(cache.snapshot().entries).to.deep.equal([]);
    expect(cache.stats()).to.include({ hits: 1, cleared: 1 });
    cache.getSync('a', () => 'fresh');
    expect(cache.stats().misses.absent).to.equal(1);
  });
});

describe('cache: fencing loads against invalidations', () => {
  // The reads below begin after the write was acknowledged: joining the load that began before it would serve the old value.
  it('read-your-writes: a read after await invalidate(key) never joins the load that began before it', async () => {
    const cache = createCache<string>({ name: 'ryw-fence', metrics: false });
    let release!: (value: string) => void;
    const slow = new Promise<string>((resolve) => (release = resolve));
    const before = cache.get('k', () => slow);
    await cache.invalidate('k');
    const loader = sinon.spy(() => 'new');
    const after = cache.get('k', loader);
    release('old');
    expect(await before, 'the caller already waiting still gets its load').to.equal('old');
    expect(await after).to.equal('new');
    expect(loader.callCount).to.equal(1);
    expect(cache.peek('k')).to.equal('new');
  });

  it('read-your-writes: a read after await invalidateAll() never joins a load that began before it', async () => {
    const cache = createCache<string>({ name: 'ryw-fence-all', metrics: false });
    const held = heldLoader<string>();
    const before = cache.get('k', held.loader);
    await cache.invalidateAll();
    const after = cache.get('k', () => 'new');
    held.calls[0]!.resolve('old');
    expect(await before).to.equal('old');
    expect(await after).to.equal('new');
  });

  it('a newer set() fences the load in flight: later reads get the set value, not the load', async () => {
    const cache = createCache<string>({ name: 'set-fence', metrics: false });
    const held = heldLoader<string>();
    const before = cache.get('k', held.loader);
    cache.set('k', 'written');
    expect(await cache.get('k', () => 'unused')).to.equal('written');
    held.calls[0]!.resolve('old');
    expect(await before).to.equal('old');
    expect(cache.peek('k')).to.equal('written');
  });

  it('a load overtaken by invalidate(key) answers its callers but is not stored', async () => {
    const cache = createCache<string>({ name: 'fence' });
    const { loader, calls } = heldLoader<string>();
    const pending = cache.get('k', loader);
    await cache.invalidate('k');
    calls[0]!.resolve('old');
    expect(await pending).to.equal('old');
    expect(cache.has('k')).to.equal(false);
    expect(cache.recentEvents().find((e) => e.type === 'load.discarded')).to.include({ reason: 'invalidated' });
    expect(await cache.get('k', () => 'new')).to.equal('new');
  });

  it('invalidateAll fences every load in flight', async () => {
    const cache = createCache<string>({ name: 'fence' });
    const { loader, calls } = heldLoader<string>();
    const pendingA = cache.get('a', loader);
    const pendingB = cache.get('b', loader);
    await cache.invalidateAll();
    calls[0]!.resolve('A');
    calls[1]!.resolve('B');
    await Promise.all([pendingA, pendingB]);
    expect(cache.has('a') || cache.has('b')).to.equal(false);
    expect(cache.stats().loadDiscarded).to.equal(2);
  });

  it('an invalidation of another key does not fence the load', async () => {
    const cache = createCache<string>({ name: 'fence' });
    const { loader, calls } = heldLoader<string>();
    const pending = cache.get('k', loader);
    await cache.invalidate('other');
    calls[0]!.resolve('v');
    await pending;
    expect(cache.peek('k')).to.equal('v');
  });

  it('a newer set() supersedes a slower load', async () => {
    const cache = createCache<string>({ name: 'fence' });
    const { loader, calls } = heldLoader<string>();
    const pending = cache.get('k', loader);
    cache.set('k', 'written');
    calls[0]!.resolve('loaded-before-write');
    expect(await pending).to.equal('loaded-before-write');
    expect(cache.peek('k')).to.equal('written');
    expect(cache.recentEvents().find((e) => e.type === 'load.discarded')).to.include({ reason: 'superseded' });
  });

  it('a load that starts after the invalidation is stored', async () => {
    const cache = createCache<string>({ name: 'fence' });
    await cache.invalidate('k');
    const { loader, calls } = heldLoader<string>();
    const pending = cache.get('k', loader);
    calls[0]!.resolve('v');
    await pending;
    expect(cache.peek('k')).to.equal('v');
  });
});

describe('cache: staleIfError', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
  });
  afterEach(() => clock.restore());

  const failing = () => Promise.reject(new Error('backend down'));

  it('serves the expired value inside the window when the loader fails, and says so', async () => {
    const cache = createCache<string>({ name: 'stale', ttl: 1_000, staleIfError: 5_000 });
    await cache.get('k', () => 'v1');
    clock.tick(3_000);
    expect(await cache.get('k', failing)).to.equal('v1');
    const loaded = cache.recentEvents().filter((e) => e.type === 'loaded').at(-1);
    expect(loaded).to.include({ outcome: 'error', servedStale: true });
    expect(cache.stats().loadServedStale).to.equal(1);
    // Still expired: the next read tries the loader again.
    expect(await cache.get('k', () => 'v2')).to.equal('v2');
  });

  it('past the window the error reaches the caller', async () => {
    const cache = createCache<string>({ name: 'stale', ttl: 1_000, staleIfError: 5_000 });
    await cache.get('k', () => 'v1');
    clock.tick(6_000);
    const [result] = await Promise.allSettled([cache.get('k', failing)]);
    expect(result.status).to.equal('rejected');
    expect(cache.stats().expired).to.equal(1);
  });

  it('never serves a value that was invalidated', async () => {
    const cache = createCache<string>({ name: 'stale', ttl: 1_000, staleIfError: 5_000 });
    await cache.get('k', () => 'v1');
    clock.tick(2_000);
    await cache.invalidate('k');
    const [result] = await Promise.allSettled([cache.get('k', failing)]);
    expect(result.status).to.equal('rejected');
  });

  it('getSync serves stale too', () => {
    const cache = createCache<string>({ name: 'stale', ttl: 1_000, staleIfError: 5_000 });
    cache.set('k', 'v1');
    clock.tick(1_500);
    expect(
      cache.getSync('k', () => {
        throw new Error('down');
      }),
    ).to.equal('v1');
  });
});

describe('cache: loadTimeout', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
  });
  afterEach(() => clock.restore());

  it('rejects every waiting caller with a typed LoadTimeoutError and aborts the signal', async () => {
    const cache = createCache<string>({ name: 'slow', loadTimeout: 100 });
    let signal: AbortSignal | undefined;
    const { loader } = heldLoader<string>();
    const first = cache.get('k', (_key, context) => {
      signal = context.signal;
      return loader();
    });
    const second = cache.get('k', loader);
    const settled = Promise.allSettled([first, second]);
    await clock.tickAsync(100);
    const results = await settled;
    for (const result of results) {
      expect(result.status).to.equal('rejected');
      const reason = (result as PromiseRejectedResult).reason as Error & { timeoutMs: number; key: string };
      expect(reason.name).to.equal('LoadTimeoutError');
      expect(reason).to.include({ timeoutMs: 100, key: 'k' });
    }
    expect(signal?.aborted).to.equal(true);
    expect(cache.stats().loads.timeout).to.equal(1);
  });

  it('stores a late result when nothing invalidated the key meanwhile', async () => {
    const cache = createCache<string>({ name: 'slow', loadTimeout: 100 });
    const { loader, calls } = heldLoader<string>();
    const first = Promise.allSettled([cache.get('k', loader)]);
    await clock.tickAsync(100);
    await first;
    calls[0]!.resolve('late');
    await clock.tickAsync(0);
    expect(cache.peek('k')).to.equal('late');
  });

  it('discards a late result when the key was invalidated meanwhile', async () => {
    const cache = createCache<string>({ name: 'slow', loadTimeout: 100 });
    const { loader, calls } = heldLoader<string>();
    const first = Promise.allSettled([cache.get('k', loader)]);
    await clock.tickAsync(100);
    await first;
    await cache.invalidate('k');
    calls[0]!.resolve('late');
    await clock.tickAsync(0);
    expect(cache.has('k')).to.equal(false);
    expect(cache.stats().loadDiscarded).to.equal(1);
  });

  it('a caller after the timeout starts a fresh load, and the stale late one cannot overwrite it', async () => {
    const cache = createCache<string>({ name: 'slow', loadTimeout: 100 });
    const { loader, calls } = heldLoader<string>();
    const first = Promise.allSettled([cache.get('k', loader)]);
    await clock.tickAsync(100);
    await first;
    const second = cache.get('k', loader);
    expect(calls).to.have.length(2);
    calls[1]!.resolve('fresh');
    expect(await second).to.equal('fresh');
    calls[0]!.resolve('late');
    await clock.tickAsync(0);
    expect(cache.peek('k')).to.equal('fresh');
  });

  it('serves a stale value on timeout inside the staleIfError window', async () => {
    const cache = createCache<string>({ name: 'slow', ttl: 1_000, staleIfError: 10_000, loadTimeout: 100 });
    cache.set('k', 'old');
    clock.tick(2_000);
    const { loader } = heldLoader<string>();
    const pending = cache.get('k', loader);
    await clock.tickAsync(100);
    expect(await pending).to.equal('old');
  });
});

describe('cache: listeners and the recorder', () => {
  it('delivers events by type and to subscribers, until unsubscribed', () => {
    const cache = createCache<string>({ name: 'ev' });
    const stored: string[] = [];
    const all: string[] = [];
    const offStored = cache.on('stored', (event) => stored.push(event.key));
    const offAll = cache.subscribe((event) => all.push(event.type));
    cache.set('a', 'A');
    offStored();
    offAll();
    cache.set('b', 'B');
    expect(stored).to.deep.equal(['a']);
    expect(all).to.deep.equal(['stored']);
  });

  it('a throwing listener breaks neither the cache nor the listeners after it', () => {
    const reported: string[] = [];
    const cache = createCache<string>({ name: 'ev', onListenerError: (_error, type) => reported.push(type) });
    const seen: string[] = [];
    cache.subscribe(() => {
      throw new Error('listener bug');
    });
    cache.subscribe((event) => seen.push(event.type));
    cache.set('a', 'A');
    expect(cache.getSync('a', () => 'x')).to.equal('A');
    expect(seen).to.deep.equal(['stored', 'hit']);
    expect(cache.stats().listenerErrors).to.equal(2);
    expect(reported).to.deep.equal(['stored', 'hit']);
  });

  it('keeps event order for every listener when a listener writes to the cache', () => {
    const cache = createCache<string>({ name: 'ev' });
    const first: string[] = [];
    const second: string[] = [];
    cache.subscribe((event) => {
      first.push(`${event.type}:${'key' in event ? event.key : ''}`);
      if (event.type === 'stored' && event.key === 'a') cache.set('b', 'B');
    });
    cache.subscribe((event) => second.push(`${event.type}:${'key' in event ? event.key : ''}`));
    cache.set('a', 'A');
    expect(first).to.deep.equal(['stored:a', 'stored:b']);
    expect(second).to.deep.equal(first);
  });

  it('recentEvents is bounded, skips hits and redacts values', () => {
    const cache = createCache<string>({ name: 'ev', recentEvents: 3 });
    for (let i = 0; i < 5; i++) cache.set(`k${i}`, `secret-${i}`);
    cache.getSync('k4', () => 'x');
    const recent = cache.recentEvents();
    expect(recent.map((e) => e.type === 'stored' && e.key)).to.deep.equal(['k2', 'k3', 'k4']);
    expect(JSON.stringify(recent)).not.to.include('secret');
  });
});

describe('cache: close', () => {
  it('rejects use after close with CacheClosedError', async () => {
    const cache = createCache<string>({ name: 'closing' });
    await cache.close();
    expect(() => cache.set('a', 'A')).to.throw(/cache "closing" is closed/);
    expect((await rejectionOf(cache.get('a', () => 'x'))).name).to.equal('CacheClosedError');
  });
});
