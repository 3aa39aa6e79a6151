/**
 * What an eviction policy costs on the hit path: `getSync` on 1 000 fresh
 * entries in random order, our LRU (a hit moves its entry to the recent end)
 * against SIEVE (a hit sets a mark). Every lookup hits.
 */
import { createCache, type EvictionPolicy } from '../src/index.ts';
import { measure, type Bench, type ScenarioContext } from './harness.ts';
import { HIT_MAX, HIT_TTL_MS, keys, missesOf, valueOf, walk, WALK_MASK } from './keys.ts';
import { judgeRatio, ratiosTo, type Row, type Section } from './report.ts';

export const id = 'hit-eviction';
const REFERENCE = "getSync, eviction: 'lru'";
const SUBJECT = "getSync, eviction: 'sieve'";
const MAX_RATIO = 1.1;

export async function run(context: ScenarioContext): Promise<Section> {
  const make = (eviction: EvictionPolicy) => {
    const cache = createCache<number>({ name: `bench-hit-${eviction}`, ttl: HIT_TTL_MS, maxEntries: HIT_MAX, eviction });
    for (const key of keys) cache.set(key, valueOf(key));
    return cache;
  };
  const lru = make('lru');
  const sieve = make('sieve');
  let loaderCalls = 0;
  const loader = (key: string): number => {
    loaderCalls++;
    return valueOf(key);
  };

  // One loop per cache, written out, so each call site sees one receiver.
  let lruCursor = 0;
  let sieveCursor = 0;
  const benches: Bench[] = [
    {
      name: REFERENCE,
      run: (n) => {
        let acc = 0;
        let c = lruCursor;
        for (let i = 0; i < n; i++) acc ^= lru.getSync(keys[walk[c++ & WALK_MASK] as number] as string, loader);
        lruCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: SUBJECT,
      run: (n) => {
        let acc = 0;
        let c = sieveCursor;
        for (let i = 0; i < n; i++) acc ^= sieve.getSync(keys[walk[c++ & WALK_MASK] as number] as string, loader);
        sieveCursor = c & WALK_MASK;
        return acc;
      },
    },
  ];

  context.log(`${id}: timing ${benches.length} benchmarks`);
  const timings = await measure(benches, context.timing);
  const missed = missesOf(lru.stats()) + missesOf(sieve.stats());
  if (missed !== 0 || loaderCalls !== 0) throw new Error(`${id}: a lookup missed (misses ${missed}, loader calls ${loaderCalls})`);
  await Promise.all([lru.close(), sieve.close()]);

  const rows: Row[] = timings.map((t) => ({ name: t.name, value: t.nsPerOp, spread: t.spread, extra: { opsPerSample: t.opsPerSample } }));
  return {
    id,
    title: `Hit path by eviction policy: ${keys.length} fresh keys, random order`,
    unit: 'ns/op',
    reference: REFERENCE,
    target: `${SUBJECT} ≤ ${MAX_RATIO}× ${REFERENCE}`,
    columns: [{ key: 'opsPerSample', label: 'ops/sample', digits: 0 }],
    rows: judgeRatio(ratiosTo(rows, REFERENCE), SUBJECT, REFERENCE, MAX_RATIO),
    notes: [`both: default options (events and stats on), ttl ${HIT_TTL_MS}, maxEntries ${HIT_MAX}; what the hit-sync scenario times, with each policy`],
    details: { timings },
  };
}
