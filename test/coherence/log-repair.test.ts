/**
 * Gap repair from the channel's log, cache to cache over a bus the test
 * drives (test/support/controlled-bus.ts, which numbers and keeps what is
 * published as a server's log would): after a gap only the keys invalidated
 * in it are dropped; a message lost while the link is up is found by the next
 * position or heartbeat and repaired; a log that cannot cover the gap falls
 * back to dropping everything, and the events say which happened.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { createCache, type Cache, type CacheEventOf } from '../../src/index.ts';
import { ControlledBus, type ControlledEndpoint } from '../support/controlled-bus.ts';

const DEGRADED_TTL = 400;

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('gap repair from the log', () => {
  let clock: sinon.SinonFakeTimers;
  let bus: ControlledBus;
  let caches: Cache<string>[];

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000 });
    caches = [];
  });
  afterEach(async () => {
    bus.deliverAll();
    const closed = Promise.all(caches.map((cache) => cache.close()));
    await clock.tickAsync(100);
    await closed;
    clock.restore();
  });

  /** Two caches on a logged bus, connected and past their first (full) resync. */
  async function pair(maxEntries = 100): Promise<{ a: Cache<string>; b: Cache<string>; aLink: ControlledEndpoint; bLink: ControlledEndpoint }> {
    bus = new ControlledBus({ log: { maxEntries, maxAge: 3_600_000 } });
    const aLink = bus.endpoint();
    const bLink = bus.endpoint();
    const a = createCache<string>({ name: 'config', transport: aLink, degradedTtl: DEGRADED_TTL, metrics: false, tracing: false });
    const b = createCache<string>({ name: 'config', transport: bLink, degradedTtl: DEGRADED_TTL, metrics: false, tracing: false });
    caches.push(a, b);
    await settle();
    await Promise.all([a.ready(), b.ready()]);
    bus.deliverAll();
    return { a, b, aLink, bLink };
  }

  /** Lets `ms` pass, delivering what is sent as it goes (heartbeats renew leases). */
  async function ticksDelivering(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 50) {
      await clock.tickAsync(50);
      bus.deliverAll();
    }
  }

  function resyncs(cache: Cache<string>): CacheEventOf<'resynced'>[] {
    return cache.recentEvents().filter((e): e is CacheEventOf<'resynced'> => e.type === 'resynced');
  }

  it('the first subscription reads where the log stands (a full resync of nothing) before it connects', async () => {
    const { a } = await pair();
    expect(resyncs(a)).to.deep.equal([{ type: 'resynced', at: 1_000, mode: 'full', cause: 'starting', head: resyncs(a)[0]?.head, missed: 0, keys: 0, dropped: 0, kept: 0 }]);
    expect(a.snapshot().log).to.include({ seq: 0 });
  });

  it('after a broken link, only the keys invalidated meanwhile are dropped; the rest stay hits, with their own expiries back', async () => {
    const { a, b, aLink } = await pair();
    for (const key of ['k', 'j', 'i']) a.set(key, `old ${key}`, { ttl: 60_000 });
    aLink.break();
    await b.invalidate('k');
    await clock.tickAsync(DEGRADED_TTL / 2);
    aLink.restore();
    await settle();
    expect(a.snapshot().link).to.equal('connected');
    expect(resyncs(a).at(-1)).to.include({ mode: 'exact', missed: 1, keys: 1, dropped: 1, kept: 2 });
    expect(a.has('k'), 'invalidated in the gap').to.equal(false);
    expect(a.has('j') && a.has('i'), 'untouched keys survive').to.equal(true);
    // Degraded, their expiries were cut to the bound; the repair gave them back.
    await ticksDelivering(DEGRADED_TTL * 2);
    expect(a.has('j'), 'still cached past the degraded bound').to.equal(true);
    expect(a.stats().resynced).to.deep.equal({ exact: 1, full: 1 });
    expect(a.stats().resyncedDropped).to.deep.equal({ exact: 1, full: 0 });
  });

  it('a message lost while the link stays up is found by the next heartbeat and repaired, well within the bound', async () => {
    const { a, b } = await pair();
    a.set('k', 'old');
    a.set('j', 'old');
    await b.invalidate('k');
    bus.loseQuietly(bus.inFlight.findIndex((m) => m.to !== m.from));
    bus.deliverAll();
    expect(a.has('k'), 'lost: not yet known').to.equal(true);
    // b's next heartbeat marks a log head past what a applied.
    await clock.tickAsync(DEGRADED_TTL / 4);
    bus.deliverAll();
    await settle();
    expect(a.has('k')).to.equal(false);
    expect(a.has('j')).to.equal(true);
    expect(a.recentEvents().findLast((e) => e.type === 'repair.started')).to.include({ reason: 'lost-message' });
    expect(resyncs(a).at(-1)).to.include({ mode: 'exact', keys: 1, dropped: 1 });
  });

  it('a skipped position is a gap too, even before any heartbeat', async () => {
    const { a, b } = await pair();
    a.set('k', 'old');
    a.set('j', 'old');
    await b.invalidate('k');
    await b.invalidate('x');
    const toA = bus.inFlight.filter((m) => m.to !== m.from && m.position?.entry === true);
    expect(toA).to.have.length(2);
    bus.loseQuietly(bus.inFlight.indexOf(toA[0] as (typeof toA)[number]));
    bus.deliverAll();
    await settle();
    expect(a.has('k')).to.equal(false);
    expect(a.has('j')).to.equal(true);
  });

  it('a lease is not renewed while the log it marks is not applied: a repair that cannot read lets the lease lapse', async () => {
    const { a, b, aLink } = await pair();
    a.set('k', 'old');
    await b.invalidate('k');
    bus.loseQuietly(bus.inFlight.findIndex((m) => m.to !== m.from));
    // The log cannot be read from a's side (its reads fail), yet its link looks up.
    aLink.log = { read: () => Promise.reject(new Error('log unreachable')) };
    await ticksDelivering(DEGRADED_TTL + 100);
    expect(a.has('k'), 'never served past the bound').to.equal(false);
    expect(a.stats().repairFailed).to.be.greaterThan(0);
  });

  it('falls back to a full resync when the log was trimmed past the gap, or started again', async () => {
    const { a, b, aLink } = await pair(2);
    a.set('j', 'old');
    aLink.break();
    for (const key of ['k1', 'k2', 'k3']) await b.invalidate(key);
    aLink.restore();
    await settle();
    expect(resyncs(a).at(-1)).to.include({ mode: 'full', cause: 'log-trimmed', dropped: 1 });
    expect(a.has('j')).to.equal(false);

    a.set('j', 'old');
    bus.resetLogs();
    await b.invalidate('k1');
    bus.deliverAll();
    await settle();
    expect(resyncs(a).at(-1)).to.include({ mode: 'full', cause: 'log-reset', dropped: 1 });
  });
});
