/**
 * One memory measurement, run by `memory.ts` in a fresh process per library
 * so no two share a heap (it asks over IPC, serveParent), or by hand:
 * `node --expose-gc --import tsx memory-child.ts <library> <count>` prints the report.
 *
 * The keys are built before the baseline, so the delta is what the cache adds
 * per entry (its index, slots, expiry, recency, wrappers), not the key strings
 * every library would hold alike. Values are small integers (Smis): no heap of
 * their own, unless a library boxes or serializes them.
 */
import { serveParent } from '../test/support/child.ts';
import { collectGarbage } from './harness.ts';
import { LIBRARIES, type Library, type MeasureRequest, type MemoryReport } from './memory.ts';

const TTL_MS = 60_000;

interface Filled {
  /** Keeps the cache reachable until after the last heap reading. */
  readonly retained: unknown;
  readonly held: () => Promise<number>;
}

async function fill(library: Library, keys: readonly string[]): Promise<Filled> {
  const count = keys.length;
  switch (library) {
    case 'Map': {
      const map = new Map<string, number>();
      for (let i = 0; i < count; i++) map.set(keys[i] as string, i);
      return { retained: map, held: () => Promise.resolve(map.size) };
    }
    case 'lru-cache': {
      const { LRUCache } = await import('lru-cache');
      const lru = new LRUCache<string, number>({ max: count, ttl: TTL_MS });
      for (let i = 0; i < count; i++) lru.set(keys[i] as string, i);
      return { retained: lru, held: () => Promise.resolve(lru.size) };
    }
    case 'coherent-cache': {
      const { createCache } = await import('../src/index.ts');
      const cache = createCache<number>({ name: 'bench-memory', ttl: TTL_MS, maxEntries: count });
      for (let i = 0; i < count; i++) cache.set(keys[i] as string, i);
      return { retained: cache, held: () => Promise.resolve(cache.stats().size) };
    }
    case 'bentocache': {
      const { BentoCache, bentostore } = await import('bentocache');
      const { memoryDriver } = await import('bentocache/drivers/memory');
      const bento = new BentoCache({
        default: 'memory',
        stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: count })) },
      });
      for (let i = 0; i < count; i++) await bento.set({ key: keys[i] as string, value: i, ttl: TTL_MS });
      return {
        retained: bento,
        held: async () => {
          let held = 0;
          for (let i = 0; i < count; i += 1000) if ((await bento.has({ key: keys[i] as string })) === true) held += 1000;
          return held;
        },
      };
    }
    case 'cache-manager': {
      const { createCache } = await import('cache-manager');
      const manager = createCache({ ttl: TTL_MS });
      for (let i = 0; i < count; i++) await manager.set(keys[i] as string, i, TTL_MS);
      return {
        retained: manager,
        held: async () => {
          let held = 0;
          for (let i = 0; i < count; i += 1000) if ((await manager.get(keys[i] as string)) === i) held += 1000;
          return held;
        },
      };
    }
  }
}

function reading(): { heap: number; arrayBuffers: number } {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

async function measure(library: Library, count: number): Promise<MemoryReport> {
  // Load the library's modules and warm its code on a throwaway instance, outside the measurement.
  await fill(library, ['warm-1', 'warm-2']);
  const keys = Array.from({ length: count }, (_, i) => `k${i}`);
  const before = reading();
  const start = process.hrtime.bigint();
  const filled = await fill(library, keys);
  const fillNs = Number(process.hrtime.bigint() - start);
  const after = reading();
  const report: MemoryReport = {
    library,
    count,
    heapBytes: after.heap - before.heap,
    arrayBufferBytes: after.arrayBuffers - before.arrayBuffers,
    held: await filled.held(),
    fillNsPerEntry: fillNs / count,
  };
  if (keys.length !== count || filled.retained === undefined) throw new Error('unreachable');
  return report;
}

const library = process.argv[2] as Library;
const count = Number(process.argv[3]);
if (!LIBRARIES.includes(library) || !Number.isInteger(count) || count <= 0) {
  throw new Error(`usage: memory-child.ts <${LIBRARIES.join('|')}> <count>`);
}
if (process.send === undefined) {
  console.log(JSON.stringify(await measure(library, count)));
  // Exit explicitly: a library may keep timers or handles open.
  process.exit(0);
}
// The bench asks once, then closes the channel, on which serveParent exits (whatever a library keeps open).
serveParent<MeasureRequest, MemoryReport>(() => measure(library, count));
