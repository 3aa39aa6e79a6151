/**
 * The hit fast path (taken while nobody listens to hits) and `decide` (taken
 * with a hit listener) are one policy: for random histories, a cache on each
 * path answers every read alike and ends in the same state and counters,
 * under either eviction policy (SIEVE's hit marks its entry instead of moving it)
 * and with refresh-ahead (a hit past its refresh time leaves the fast path).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import { createCache } from '../../src/index.ts';

type Step =
  | { kind: 'get' | 'getSync'; key: string; ttl: number | undefined }
  | { kind: 'set'; key: string; ttl: number | undefined }
  | { kind: 'invalidate'; key: string }
  | { kind: 'tick'; ms: number };

const key = fc.constantFrom('a', 'b', 'c', 'd');
const ttl = fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom('get' as const, 'getSync' as const), key, ttl }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), key, ttl }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 15 }) }) },
);

describe('the hit fast path equals decide (property)', function () {
  this.timeout(60_000);

  it('answers, state and counters agree with and without a hit listener', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.constantFrom('lru' as const, 'sieve' as const), fc.constantFrom(undefined, 0.5), fc.array(step, { maxLength: 60 }), async (maxEntries, eviction, refreshAhead, steps) => {
        const clock = sinon.useFakeTimers({ now: 1_000 });
        try {
          const options = { maxEntries, eviction, ttl: 20, metrics: false, tracing: false, ...(refreshAhead === undefined ? {} : { refreshAhead }) } as const;
          const fast = createCache<string>({ name: 'fast', ...options });
          const decided = createCache<string>({ name: 'decided', ...options });
          let hitsHeard = 0;
          decided.on('hit', () => hitsHeard++);
          let version = 0;
          for (const s of steps) {
            const value = `v${++version}`;
            switch (s.kind) {
              case 'get': {
                const entry = s.ttl === undefined ? undefined : { ttl: s.ttl };
                expect(await decided.get(s.key, () => value, entry)).to.equal(await fast.get(s.key, () => value, entry));
                break;
              }
              case 'getSync': {
                const entry = s.ttl === undefined ? undefined : { ttl: s.ttl };
                expect(decided.getSync(s.key, () => value, entry)).to.equal(fast.getSync(s.key, () => value, entry));
                break;
              }
              case 'set':
                fast.set(s.key, value, s.ttl === undefined ? undefined : { ttl: s.ttl });
                decided.set(s.key, value, s.ttl === undefined ? undefined : { ttl: s.ttl });
                break;
              case 'invalidate':
                await Promise.all([fast.invalidate(s.key), decided.invalidate(s.key)]);
                break;
              case 'tick':
                clock.tick(s.ms);
                break;
            }
          }
          expect(decided.snapshot()).to.deep.equal(fast.snapshot());
          expect(decided.stats()).to.deep.equal(fast.stats());
          expect(hitsHeard).to.equal(fast.stats().hits);
        } finally {
          clock.restore();
        }
      }),
      { numRuns: 500 },
    );
  });
});
