/**
 * A hot key across its expiries: readers read one key without pause while its
 * ttl runs out again and again, with a 20 ms loader. Reports each library's
 * read latency (p50, p99, max) and how many reads waited for the loader.
 * Our stale-while-revalidate and refresh-ahead against cachified's
 * staleWhileRevalidate and lru-cache's fetch with allowStale; our plain get
 * shows what every read at an expiry pays without either.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cachified, type CacheEntry } from '@epic-web/cachified';
import { LRUCache } from 'lru-cache';
import { createCache, type Cache } from '../src/index.ts';
import { collectGarbage, median, yieldToEventLoop, type ScenarioContext } from './harness.ts';
import { percentile, sleep } from './peers.ts';
import type { Row, Section } from './report.ts';

export const id = 'swr';
const LOADER_MS = 20;
const TTL_MS = 100;
const KEY = 'hot';
/** A read this slow waited for a loader (the loader takes 20 ms; scheduling noise stays well below). */
const WAITED_MS = LOADER_MS / 2;
const READERS = 8;
/** Between a reader's reads: about 50 reads per reader per 100 ms ttl, so one read in a hundred waiting for a load shows at the p99. */
const PAUSE_MS = 2;
const SWR = 'coherent-cache get, staleWhileRevalidate';
const AHEAD = 'coherent-cache get, refreshAhead 0.5';
const SUBJECTS = [SWR, AHEAD];

interface Target {
  readonly read: () => Promise<number>;
  readonly close: () => Promise<unknown>;
  /** Ours only: reads whose answer came from a load (misses not answered stale), from the cache's own counters. */
  readonly loadedReads?: () => number;
}

/** A coherent-cache target: its counters tell which reads waited for a load, whatever the clock says. */
function ours(cache: Cache<number>, loader: () => Promise<number>): Target {
  return {
    read: () => cache.get(KEY, loader),
    close: () => cache.close(),
    loadedReads: () => {
      const { misses, staleServed } = cache.stats();
      return misses.absent + misses.expired + misses.invalidated - staleServed.swr;
    },
  };
}

interface Contender {
  readonly name: string;
  readonly setup: (loader: () => Promise<number>) => Target;
}

const quiet = { metrics: false, tracing: false } as const;

const contenders: readonly Contender[] = [
  {
    name: SWR,
    setup: (loader) => {
      return ours(createCache<number>({ name: 'bench-swr', ttl: TTL_MS, staleWhileRevalidate: 60_000, ...quiet }), loader);
    },
  },
  {
    name: AHEAD,
    setup: (loader) => {
      return ours(createCache<number>({ name: 'bench-ahead', ttl: TTL_MS, refreshAhead: 0.5, ...quiet }), loader);
    },
  },
  {
    name: 'cachified, staleWhileRevalidate',
    setup: (loader) => {
      const cache = new Map<string, CacheEntry>();
      return { read: () => cachified({ key: KEY, cache, ttl: TTL_MS, staleWhileRevalidate: 60_000, getFreshValue: loader }), close: () => Promise.resolve() };
    },
  },
  {
    name: 'lru-cache fetch, allowStale',
    setup: (loader) => {
      const lru = new LRUCache<string, number>({ max: 100, ttl: TTL_MS, allowStale: true, fetchMethod: loader });
      return { read: () => lru.fetch(KEY) as Promise<number>, close: () => Promise.resolve() };
    },
  },
  {
    name: 'coherent-cache get (neither)',
    setup: (loader) => {
      return ours(createCache<number>({ name: 'bench-plain', ttl: TTL_MS, ...quiet }), loader);
    },
  },
];

interface Repetition {
  /** Every read's latency, in µs. */
  readonly latencies: number[];
  readonly loaderCalls: number;
  /** Ours only: timed reads answered by a load. */
  readonly loadedReads: number | undefined;
  /** The longest the event loop was held up meanwhile (the process descheduled, a GC), in ms. */
  readonly stallMs: number;
}

/** One reader: a read (timed alone, in µs), a pause, again. */
async function reader(target: Target, until: number, latencies: number[]): Promise<void> {
  while (performance.now() < until) {
    const start = performance.now();
    await target.read();
    latencies.push((performance.now() - start) * 1_000);
    await sleep(PAUSE_MS);
  }
}

async function once(contender: Contender, spanMs: number): Promise<Repetition> {
  let loaderCalls = 0;
  let version = 0;
  const loader = async (): Promise<number> => {
    loaderCalls++;
    await sleep(LOADER_MS);
    return ++version;
  };
  const target = contender.setup(loader);
  // The cold miss is not what this measures: the key is loaded first.
  await target.read();
  const loadedBefore = target.loadedReads?.() ?? 0;
  const latencies: number[] = [];
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const until = performance.now() + spanMs;
  await Promise.all(Array.from({ length: READERS }, () => reader(target, until, latencies)));
  stalls.disable();
  const loadedReads = target.loadedReads === undefined ? undefined : target.loadedReads() - loadedBefore;
  await target.close();
  return { latencies, loaderCalls: loaderCalls - 1, loadedReads, stallMs: stalls.max / 1e6 };
}

export async function run(context: ScenarioContext): Promise<Section> {
  const repetitions = context.quick ? 1 : 3;
  const spanMs = context.quick ? 400 : 1_200;
  context.log(`${id}: ${contenders.length} libraries × ${repetitions} runs of ${spanMs} ms`);
  const runs = contenders.map(() => [] as Repetition[]);
  for (let r = 0; r < repetitions; r++) {
    for (const [c, contender] of contenders.entries()) {
      collectGarbage();
      await yieldToEventLoop();
      runs[c]?.push(await once(contender, spanMs));
    }
  }

  const rows: Row[] = contenders.map((contender, c) => {
    const reps = runs[c] as Repetition[];
    const all = reps.flatMap((rep) => rep.latencies).sort((a, b) => a - b);
    const waited = all.filter((us) => us >= WAITED_MS * 1_000).length;
    const loaded = reps.every((rep) => rep.loadedReads !== undefined) ? reps.reduce((sum, rep) => sum + (rep.loadedReads ?? 0), 0) : undefined;
    const row: Row = {
      name: contender.name,
      value: percentile(all, 99),
      extra: {
        p50: percentile(all, 50),
        max: (all.at(-1) ?? Number.NaN) / 1_000,
        waited,
        reads: all.length,
        loaded: loaded ?? '—',
        loads: median(reps.map((rep) => rep.loaderCalls)),
        stall: Math.max(...reps.map((rep) => rep.stallMs)),
      },
    };
    if (!SUBJECTS.includes(contender.name)) return row;
    // The cache's own count decides: a slow read while the process was held up did not wait for a loader.
    return { ...row, measured: `${loaded} of ${all.length.toLocaleString('en-US')} reads answered by a load (${waited} took ≥ ${WAITED_MS} ms)`, verdict: loaded === 0 ? 'PASS' : 'MISS' };
  });

  return {
    id,
    title: `A hot key across its expiries: ${READERS} readers, ttl ${TTL_MS} ms, ${LOADER_MS} ms loader, ${spanMs} ms × ${repetitions}`,
    unit: 'p99 µs',
    target: `${SUBJECTS.join(' and ')}: no read waits for the loader (after the first load, no read is answered by a load)`,
    columns: [
      { key: 'p50', label: 'p50 µs', digits: 1 },
      { key: 'max', label: 'max ms', digits: 1 },
      { key: 'waited', label: `reads ≥ ${WAITED_MS} ms`, digits: 0 },
      { key: 'loaded', label: 'answered by a load', digits: 0 },
      { key: 'reads', label: 'reads', digits: 0 },
      { key: 'loads', label: 'loads/run', digits: 0 },
      { key: 'stall', label: 'max stall ms', digits: 1 },
    ],
    rows,
    notes: [
      `each of ${READERS} readers reads the key, awaits the value, pauses ${PAUSE_MS} ms, again; latency = call → value (a turn of the microtask queue included); a read ≥ ${WAITED_MS} ms waited for a load`,
      'coherent-cache staleWhileRevalidate 60 s; refreshAhead 0.5 (a hit after 50 ms reloads in the background); cachified ttl 100 ms, staleWhileRevalidate 60 s over a Map; lru-cache ttl 100 ms, allowStale, fetchMethod',
      'the first load of each run is awaited before timing; "loads/run" counts the loader calls after it (median over runs)',
      '"answered by a load": reads that missed and were not served stale, from coherent-cache\'s own counters (the target\'s measure; the peers have none); "max stall": the longest the event loop was held up during a run (node:perf_hooks monitorEventLoopDelay): a read that took ≥ 10 ms while the process was held up that long did not necessarily wait for a loader',
    ],
    details: { runs: contenders.map((contender, c) => ({ name: contender.name, loaderCalls: (runs[c] as Repetition[]).map((rep) => rep.loaderCalls) })) },
  };
}
