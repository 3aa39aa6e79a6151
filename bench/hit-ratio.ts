/**
 * Hit ratio: the same traces through our LRU, our SIEVE and lru-cache, each
 * bounded to the same number of entries (the same memory: every value is a
 * small number), at several sizes. Read-through: a miss loads and stores.
 */
import { LRUCache } from 'lru-cache';
import { createCache, type EvictionPolicy } from '../src/index.ts';
import type { ScenarioContext } from './harness.ts';
import type { Row, Section } from './report.ts';
import { zipfScanTrace, zipfTrace, type Trace } from './traces.ts';

export const id = 'hit-ratio';
const REFERENCE = 'lru-cache';
const MIN_POINTS = 5;
const KEY_SPACE = 100_000;
const ALPHA = 0.9;
const SIZES = [500, 1_000, 2_500, 5_000];

/** Hits / reads, in %, of a read-through over `trace` with `eviction`. */
function ours(trace: Trace, maxEntries: number, eviction: EvictionPolicy): number {
  const cache = createCache<number>({ name: `bench-hit-ratio-${eviction}`, maxEntries, eviction, ttl: 1e12, metrics: false, tracing: false, recentEvents: 0 });
  const load = (key: string): number => key.length;
  for (const index of trace.keys) cache.getSync(`k${index}`, load);
  const { hits } = cache.stats();
  void cache.close();
  return (100 * hits) / trace.keys.length;
}

function lruCache(trace: Trace, max: number): number {
  const lru = new LRUCache<string, number>({ max });
  let hits = 0;
  for (const index of trace.keys) {
    const key = `k${index}`;
    if (lru.get(key) === undefined) lru.set(key, key.length);
    else hits++;
  }
  return (100 * hits) / trace.keys.length;
}

export async function run(context: ScenarioContext): Promise<Section> {
  const length = context.quick ? 100_000 : 400_000;
  // A scan as long as the largest cache, every 4× that many Zipf reads.
  const largest = SIZES[SIZES.length - 1] as number;
  const traces = [zipfTrace(length, KEY_SPACE, ALPHA), zipfScanTrace(length, KEY_SPACE, ALPHA, 4 * largest, largest)];
  const rows: Row[] = [];
  for (const trace of traces) {
    for (const size of SIZES) {
      context.log(`${id}: ${trace.name}, ${size} entries`);
      const reference = lruCache(trace, size);
      const results: [string, number][] = [
        [REFERENCE, reference],
        ["coherent-cache eviction: 'lru'", ours(trace, size, 'lru')],
        ["coherent-cache eviction: 'sieve'", ours(trace, size, 'sieve')],
      ];
      await new Promise((resolve) => setImmediate(resolve));
      for (const [library, ratio] of results) {
        const judged = trace.name.endsWith('scans') && library.endsWith("'sieve'");
        const points = ratio - reference;
        rows.push({
          name: `${trace.name}, ${size.toLocaleString('en-US')} entries: ${library}`,
          value: ratio,
          ratio: ratio / reference,
          extra: { points: library === REFERENCE ? '' : `${points >= 0 ? '+' : ''}${points.toFixed(1)}` },
          ...(judged ? { verdict: points >= MIN_POINTS ? 'PASS' : 'MISS', measured: `${points >= 0 ? '+' : ''}${points.toFixed(1)} points at ${size} entries` } : {}),
        } satisfies Row);
      }
    }
  }
  return {
    id,
    title: `Hit ratio: ${length.toLocaleString('en-US')} reads over ${KEY_SPACE.toLocaleString('en-US')} keys, Zipf ${ALPHA}, with and without scans`,
    unit: '% hits',
    reference: REFERENCE,
    target: `coherent-cache eviction: 'sieve' ≥ ${REFERENCE} + ${MIN_POINTS} points on the Zipf + scans trace, same entry count`,
    columns: [{ key: 'points', label: `points vs ${REFERENCE}` }],
    rows,
    notes: [
      `read-through: a miss stores the key; every cache holds at most the same number of entries (values are small numbers, so the same memory bound)`,
      `scans: every ${(4 * largest).toLocaleString('en-US')} Zipf reads, ${largest.toLocaleString('en-US')} keys read once in order and never again`,
      'deterministic traces (fixed seeds): a rerun gives the same ratios',
    ],
  };
}
