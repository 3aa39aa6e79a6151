/**
 * Verification of hits: a sample of the hits is re-loaded off the hot path
 * and compared with what was served. A lost invalidation (planted with a
 * transport that drops it) is found, counted and kept with the events around
 * it; a difference an invalidation explains is not a violation; the sample
 * rate bounds the extra loads.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { expect } from 'chai';
import type { CoherenceViolationEvent } from '../../src/index.ts';
import { DroppingTransport, dropInvalidations } from '../support/dropping-transport.ts';
import { memoryInstances } from '../support/memory-instances.ts';
import { waitForEvent } from '../support/wait-for-event.ts';

describe('verification of sampled hits', () => {
  const memory = memoryInstances({ degradedTtl: 60 });
  const { instance } = memory;
  /** The source of truth behind every cache. */
  const store = new Map<string, string>();
  let loads = 0;
  const loader = (key: string): string => {
    loads++;
    return store.get(key) ?? 'none';
  };

  beforeEach(() => {
    store.clear();
    loads = 0;
  });

  it('finds a lost invalidation: the hit served a value its loader contradicts and nothing explains it', async () => {
    const lossy = new DroppingTransport(memory.bus.transport());
    const writer = await instance();
    const reader = await instance({ verify: { sampleRate: 1 } }, lossy);
    store.set('k', 'v1');
    expect(await reader.get('k', loader)).to.equal('v1');
    dropInvalidations(lossy, 1);
    store.set('k', 'v2');
    await writer.invalidate('k');
    expect(lossy.dropped, 'the invalidation was lost').to.have.lengthOf(1);
    const found = waitForEvent(reader, 'coherence.violation', (e): e is CoherenceViolationEvent => e.type === 'coherence.violation');
    expect(await reader.get('k', loader), 'served stale: the message was lost').to.equal('v1');
    const violation = await found;
    expect(violation.key, 'keys are redacted by default').to.equal('[redacted]');
    expect(reader.stats().coherenceViolation).to.equal(1);
    const [incident] = reader.violations();
    expect(incident?.violation).to.deep.equal(violation);
    expect(incident?.before.some((e) => e.type === 'stored' && e.key === 'k'), 'the events before it are kept').to.equal(true);
  });

  it('names the key with allowKeys, and the incident collects the events after it', async () => {
    const lossy = new DroppingTransport(memory.bus.transport());
    const writer = await instance();
    const reader = await instance({ verify: { sampleRate: 1, allowKeys: true } }, lossy);
    store.set('k', 'v1');
    await reader.get('k', loader);
    dropInvalidations(lossy, 1);
    store.set('k', 'v2');
    await writer.invalidate('k');
    const found = waitForEvent(reader, 'coherence.violation', (e) => e.type === 'coherence.violation');
    await reader.get('k', loader);
    expect(await found).to.include({ key: 'k' });
    const heard = waitForEvent(reader, 'invalidated', (e) => e.type === 'invalidated');
    await writer.invalidate('k');
    await heard;
    expect(reader.violations()[0]?.after.some((e) => e.type === 'invalidated')).to.equal(true);
  });

  it('a difference that an invalidation explains (it arrives before the verdict) is no violation', async () => {
    const writer = await instance();
    const reader = await instance({ verify: { sampleRate: 1 } });
    store.set('k', 'v1');
    await reader.get('k', loader);
    // The write lands in the store; its invalidation is still on its way when the hit is served.
    store.set('k', 'v2');
    const judged = waitForEvent(reader, 'verified', (e) => e.type === 'verified' || e.type === 'coherence.violation');
    expect(await reader.get('k', loader)).to.equal('v1');
    await writer.invalidate('k');
    expect(await judged).to.deep.include({ type: 'verified', outcome: 'explained' });
    expect(reader.stats().coherenceViolation).to.equal(0);
  });

  it('a value the loader agrees with is a match; compare decides what agreeing means', async () => {
    const reader = await instance({ verify: { sampleRate: 1 } });
    store.set('k', 'v1');
    await reader.get('k', loader);
    const judged = waitForEvent(reader, 'verified', (e) => e.type === 'verified');
    await reader.get('k', loader);
    expect(await judged).to.deep.include({ outcome: 'match' });
    // By version: a payload that differs with the same version agrees.
    const versioned = await instance({ verify: { sampleRate: 1, compare: (a, b) => (a as string).split(':')[0] === (b as string).split(':')[0] } });
    store.set('v', '3:payload');
    await versioned.get('v', loader);
    store.set('v', '3:other payload');
    const byVersion = waitForEvent(versioned, 'verified', (e) => e.type === 'verified' || e.type === 'coherence.violation');
    versioned.getSync('v', loader);
    expect(await byVersion).to.deep.include({ type: 'verified', outcome: 'match' });
  });

  it('keeps one verification per key at a time: hits of a key being verified are not sampled again', async () => {
    const reader = await instance({ verify: { sampleRate: 1 } });
    store.set('k', 'v1');
    store.set('j', 'v1');
    await reader.get('k', loader);
    await reader.get('j', loader);
    for (let i = 0; i < 10; i++) reader.getSync(i % 2 === 0 ? 'k' : 'j', loader);
    await nextTurn();
    expect(loads - 2).to.equal(2);
  });

  it('without verify no hit is re-loaded', async () => {
    const reader = await instance();
    store.set('k', 'v1');
    await reader.get('k', loader);
    for (let i = 0; i < 100; i++) reader.getSync('k', loader);
    await nextTurn();
    expect(loads).to.equal(1);
  });

  for (const sampleRate of [0.1, 0.01]) {
    it(`the sample rate bounds the extra loads (${sampleRate})`, async () => {
      // A lease long enough for a slow machine: a lapse in the middle would turn hits into misses, and their loads into "extra" ones.
      const reader = await instance({ verify: { sampleRate }, maxEntries: 1_000, degradedTtl: 60_000 });
      const keys = Array.from({ length: 1_000 }, (_, i) => `k${i}`);
      for (const key of keys) {
        store.set(key, 'v1');
        await reader.get(key, loader);
      }
      const hits = 20_000;
      for (let batch = 0; batch < hits / 100; batch++) {
        for (let i = 0; i < 100; i++) reader.getSync(keys[(batch * 100 + i) % keys.length] as string, loader);
        // Let the verifications of this batch run (each is off the hot path).
        await nextTurn();
      }
      await nextTurn();
      const extra = loads - 1_000;
      const expected = hits * sampleRate;
      // The countdown to the next sample averages 1 / sampleRate: within a few standard deviations of the mean.
      expect(extra).to.be.within(expected * 0.75, expected * 1.25);
      const stats = reader.stats();
      expect(stats.verified.match).to.equal(extra);
      expect(stats.hits).to.equal(hits);
    });
  }
});
