/**
 * Async hit path: `await cache.get(key, loader)` on 1 000 fresh entries in
 * random order, against the read-through APIs of the peers: lru-cache
 * `fetch` (with a fetchMethod), bentocache `getOrSet` (memory driver only) and
 * cache-manager `wrap` (default in-memory keyv store). Every lookup hits; the
 * loaders count their calls to prove it.
 */
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createCache as createCacheManager } from 'cache-manager';
import { LRUCache } from 'lru-cache';
import { createCache, MemoryBus } from '../src/index.ts';
import { measure, type Bench, type ScenarioContext } from './harness.ts';
import { HIT_MAX, HIT_TTL_MS, keys, missesOf, valueOf, walk, WALK_MASK } from './keys.ts';
import { judgeRatio, ratiosTo, type Row, type Section } from './report.ts';

export const id = 'hit-async';
const REFERENCE = 'lru-cache fetch';
const SUBJECT = 'coherent-cache get';
const MAX_RATIO = 0.9;
/** The same, on a cache with a transport: its lease is judged against an exact clock reading on every hit. */
const COHERENT = 'coherent-cache get, with a transport';

export async function run(context: ScenarioContext): Promise<Section> {
  let loaderCalls = 0;
  // Hoisted loaders (no closure per call) for every library alike; never called, since every key is fresh.
  const loader = (key: string): number => {
    loaderCalls++;
    return valueOf(key);
  };
  const factory = (): number => {
    loaderCalls++;
    return -1;
  };

  const cache = createCache<number>({ name: 'bench-hit-async', ttl: HIT_TTL_MS, maxEntries: HIT_MAX });
  // A lease longer than the run: the samples run between heartbeats.
  const coherent = createCache<number>({ name: 'bench-hit-async', ttl: HIT_TTL_MS, maxEntries: HIT_MAX, transport: new MemoryBus().transport(), degradedTtl: 600_000 });
  await coherent.ready();
  const lru = new LRUCache<string, number>({ max: HIT_MAX, ttl: HIT_TTL_MS, fetchMethod: loader });
  const bento = new BentoCache({
    default: 'memory',
    stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: HIT_MAX })) },
  });
  const manager = createCacheManager({ ttl: HIT_TTL_MS });
  for (const key of keys) {
    cache.set(key, valueOf(key));
    coherent.set(key, valueOf(key));
    lru.set(key, valueOf(key));
    await bento.set({ key, value: valueOf(key), ttl: HIT_TTL_MS });
    await manager.set(key, valueOf(key), HIT_TTL_MS);
  }

  let lruCursor = 0;
  let cacheCursor = 0;
  let coherentCursor = 0;
  let bentoCursor = 0;
  let managerCursor = 0;
  const benches: Bench[] = [
    {
      name: REFERENCE,
      run: async (n) => {
        let acc = 0;
        let c = lruCursor;
        for (let i = 0; i < n; i++) acc ^= (await lru.fetch(keys[walk[c++ & WALK_MASK] as number] as string)) as number;
        lruCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: SUBJECT,
      run: async (n) => {
        let acc = 0;
        let c = cacheCursor;
        for (let i = 0; i < n; i++) acc ^= await cache.get(keys[walk[c++ & WALK_MASK] as number] as string, loader);
        cacheCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: COHERENT,
      run: async (n) => {
        let acc = 0;
        let c = coherentCursor;
        for (let i = 0; i < n; i++) acc ^= await coherent.get(keys[walk[c++ & WALK_MASK] as number] as string, loader);
        coherentCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: 'bentocache getOrSet',
      run: async (n) => {
        let acc = 0;
        let c = bentoCursor;
        for (let i = 0; i < n; i++) {
          acc ^= await bento.getOrSet({ key: keys[walk[c++ & WALK_MASK] as number] as string, factory, ttl: HIT_TTL_MS });
        }
        bentoCursor = c & WALK_MASK;
        return acc;
      },
    },
    {
      name: 'cache-manager wrap',
      run: async (n) => {
        let acc = 0;
        let c = managerCursor;
        for (let i = 0; i < n; i++) acc ^= await manager.wrap(keys[walk[c++ & WALK_MASK] as number] as string, factory, HIT_TTL_MS);
        managerCursor = c & WALK_MASK;
        return acc;
      },
    },
  ];

  context.log(`${id}: timing ${benches.length} benchmarks`);
  const timings = await measure(benches, context.timing);
  const stats = cache.stats();
  const missed = missesOf(stats) + missesOf(coherent.stats());
  if (missed !== 0 || loaderCalls !== 0) {
    throw new Error(`${id}: a lookup missed (coherent-cache misses ${missed}, loader/factory calls ${loaderCalls})`);
  }
  await Promise.all([cache.close(), coherent.close()]);
  await bento.disconnectAll();
  await manager.disconnect();

  const rows: Row[] = timings.map((t) => ({
    name: t.name,
    value: t.nsPerOp,
    spread: t.spread,
    extra: { opsPerSample: t.opsPerSample },
  }));
  return {
    id,
    title: `Async hit path: ${keys.length} fresh keys, random order, one await per lookup`,
    unit: 'ns/op',
    reference: REFERENCE,
    target: `${SUBJECT} ≤ ${MAX_RATIO.toFixed(1)}× ${REFERENCE}`,
    columns: [{ key: 'opsPerSample', label: 'ops/sample', digits: 0 }],
    rows: judgeRatio(ratiosTo(rows, REFERENCE), SUBJECT, REFERENCE, MAX_RATIO),
    notes: [
      'ratios are of medians of interleaved samples; separate runs on a small shared machine vary more than ±MAD (JIT decisions, neighbours): rerun before acting on a ratio near its target',
      `bentocache: memory driver only (maxItems ${HIT_MAX}, its default serialize: true); cache-manager: createCache({ ttl }) with its default keyv Map store`,
      `${COHERENT}: an in-memory transport, connected: each hit also checks the lease against Date.now()`,
      `every lookup hit: no loader or factory was called; coherent-cache counted ${stats.hits.toLocaleString('en-US')} hits, 0 misses`,
    ],
    details: { timings },
  };
}
