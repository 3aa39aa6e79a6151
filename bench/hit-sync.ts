/**
 * Sync hit path: `getSync` on 1 000 fresh entries in random order, against a
 * bare `Map.get` and lru-cache `get` with a ttl. Every lookup hits.
 */
import { LRUCache } from 'lru-cache';
import { createCache, MemoryBus } from '../src/index.ts';
import { measure, type Bench, type ScenarioContext } from './harness.ts';
import { HIT_MAX, HIT_TTL_MS, keys, missesOf, valueOf, walk, WALK_MASK } from './keys.ts';
import { judgeRatio, ratiosTo, type Row, type Section } from './report.ts';

export const id = 'hit-sync';
const REFERENCE = 'lru-cache get';
const SUBJECT = 'coherent-cache getSync';
const MAX_RATIO = 0.9;
/** The same, on a cache with a transport: its lease is judged against an exact clock reading on every hit. */
const COHERENT = 'coherent-cache getSync, with a transport';
/** The subject with verification on (1 % of hits re-loaded): its hit path only counts down to the next sample. */
const VERIFYING = 'coherent-cache getSync, verify 1%';
const MAX_VERIFY_RATIO = 1.05;

export async function run(context: ScenarioContext): Promise<Section> {
  const map = new Map<string, number>();
  const lru = new LRUCache<string, number>({ max: HIT_MAX, ttl: HIT_TTL_MS });
  const cache = createCache<number>({ name: 'bench-hit-sync', ttl: HIT_TTL_MS, maxEntries: HIT_MAX });
  const bus = new MemoryBus();
  // A lease longer than the run: the samples run between heartbeats.
  const coherent = createCache<number>({ name: 'bench-hit-sync', ttl: HIT_TTL_MS, maxEntries: HIT_MAX, transport: bus.transport(), degradedTtl: 600_000 });
  await coherent.ready();
  const verifying = createCache<number>({ name: 'bench-hit-sync', ttl: HIT_TTL_MS, maxEntries: HIT_MAX, verify: { sampleRate: 0.01 } });
  for (const key of keys) {
    verifying.set(key, valueOf(key));
    map.set(key, valueOf(key));
    lru.set(key, valueOf(key));
    cache.set(key, valueOf(key));
    coherent.set(key, valueOf(key));
  }
  let loaderCalls = 0;
  const loader = (key: string): number => {
    loaderCalls++;
    return valueOf(key);
  };
  let verifyLoads = 0;
  const verifyLoader = (key: string): number => {
    verifyLoads++;
    return valueOf(key);
  };

  // One loop per library, written out, so each call site sees one receiver.
  let mapCursor = 0;
  let lruCursor = 0;
  let cacheCursor = 0;
  let coherentCursor = 0;
  let verifyingCursor = 0;
  const benches: Bench[] = [
    {
      name: 'Map.get (no ttl)',
      run: (n) => {
        let acc = 0;
        let c = mapCursor;
        for (let i = 0; i < n; i++) acc ^= map.get(keys[walk[c++ & WALK_MASK] as number] as string) as number;
        mapCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: REFERENCE,
      run: (n) => {
        let acc = 0;
        let c = lruCursor;
        for (let i = 0; i < n; i++) acc ^= lru.get(keys[walk[c++ & WALK_MASK] as number] as string) as number;
        lruCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: SUBJECT,
      run: (n) => {
        let acc = 0;
        let c = cacheCursor;
        for (let i = 0; i < n; i++) acc ^= cache.getSync(keys[walk[c++ & WALK_MASK] as number] as string, loader);
        cacheCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: COHERENT,
      run: (n) => {
        let acc = 0;
        let c = coherentCursor;
        for (let i = 0; i < n; i++) acc ^= coherent.getSync(keys[walk[c++ & WALK_MASK] as number] as string, loader);
        coherentCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: VERIFYING,
      run: (n) => {
        let acc = 0;
        let c = verifyingCursor;
        for (let i = 0; i < n; i++) acc ^= verifying.getSync(keys[walk[c++ & WALK_MASK] as number] as string, verifyLoader);
        verifyingCursor = c & WALK_MASK;
        return acc;
      },
    },
  ];

  context.log(`${id}: timing ${benches.length} benchmarks`);
  const timings = await measure(benches, context.timing);
  const stats = cache.stats();
  const missed = missesOf(stats) + missesOf(coherent.stats());
  if (missed !== 0 || loaderCalls !== 0 || lru.size !== keys.length) {
    throw new Error(`${id}: a lookup missed (coherent-cache misses ${missed}, loader calls ${loaderCalls}, lru-cache size ${lru.size})`);
  }
  const verifyStats = verifying.stats();
  await Promise.all([cache.close(), coherent.close(), verifying.close()]);

  const rows: Row[] = timings.map((t) => ({
    name: t.name,
    value: t.nsPerOp,
    spread: t.spread,
    extra: { opsPerSample: t.opsPerSample },
  }));
  const subjectNs = rows.find((row) => row.name === SUBJECT)?.value ?? NaN;
  const verifyNs = rows.find((row) => row.name === VERIFYING)?.value ?? NaN;
  const verifyRatio = verifyNs / subjectNs;
  return {
    id,
    title: `Sync hit path: ${keys.length} fresh keys, random order`,
    unit: 'ns/op',
    reference: REFERENCE,
    target: `${SUBJECT} ≤ ${MAX_RATIO}× ${REFERENCE}`,
    columns: [{ key: 'opsPerSample', label: 'ops/sample', digits: 0 }],
    rows: judgeRatio(ratiosTo(rows, REFERENCE), SUBJECT, REFERENCE, MAX_RATIO),
    notes: [
      'ratios are of medians of interleaved samples; separate runs on a small shared machine vary more than ±MAD (JIT decisions, neighbours): rerun before acting on a ratio near its target',
      `lru-cache: new LRUCache({ max: ${HIT_MAX}, ttl: ${HIT_TTL_MS} }); coherent-cache: default options (events and stats on), ttl ${HIT_TTL_MS}, maxEntries ${HIT_MAX}`,
      `${COHERENT}: an in-memory transport, connected: each hit also checks the lease against Date.now() (no cached reading: one synchronous turn could outlast it)`,
      `${VERIFYING}: verify { sampleRate: 0.01 }, ${verifyRatio.toFixed(3)}× ${SUBJECT} (target ≤ ${MAX_VERIFY_RATIO}×: ${verifyRatio <= MAX_VERIFY_RATIO ? 'PASS' : 'MISS'}); ${verifyLoads.toLocaleString('en-US')} verification loads for ${verifyStats.hits.toLocaleString('en-US')} hits (${((100 * verifyLoads) / Math.max(1, verifyStats.hits)).toFixed(2)} %: a sample loop is one synchronous turn, where at most 64 verifications wait and later samples are skipped)`,
      `every lookup hit: coherent-cache counted ${stats.hits.toLocaleString('en-US')} hits, 0 misses`,
    ],
    details: { timings },
  };
}
