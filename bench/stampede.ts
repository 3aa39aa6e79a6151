/**
 * Stampede: 10 000 concurrent reads of one cold key whose loader takes 20 ms.
 * Counts loader calls (single flight means exactly one) and the wall time until
 * every caller has its value, over a few repetitions, each on a fresh cache.
 */
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createCache as createCacheManager } from 'cache-manager';
import { LRUCache } from 'lru-cache';
import { createCache } from '../src/index.ts';
import { collectGarbage, median, yieldToEventLoop, type ScenarioContext } from './harness.ts';
import type { Row, Section } from './report.ts';

export const id = 'stampede';
const SUBJECT = 'coherent-cache get';
const CALLERS = 10_000;
const LOADER_MS = 20;
const KEY = 'cold';
const VALUE = 42;

interface Target {
  readonly read: () => Promise<unknown>;
  readonly close: () => Promise<unknown>;
}

interface Contender {
  readonly name: string;
  /** A fresh cache that reads through `loader`. */
  readonly setup: (loader: () => Promise<number>) => Target;
}

const contenders: readonly Contender[] = [
  {
    name: SUBJECT,
    setup: (loader) => {
      const cache = createCache<number>({ name: 'bench-stampede', maxEntries: 10_000 });
      return { read: () => cache.get(KEY, loader), close: () => cache.close() };
    },
  },
  {
    name: 'lru-cache fetch',
    setup: (loader) => {
      const lru = new LRUCache<string, number>({ max: 10_000, ttl: 60_000, fetchMethod: loader });
      return { read: () => lru.fetch(KEY), close: () => Promise.resolve() };
    },
  },
  {
    name: 'bentocache getOrSet',
    setup: (loader) => {
      const bento = new BentoCache({
        default: 'memory',
        stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) },
      });
      return { read: () => bento.getOrSet({ key: KEY, factory: loader, ttl: 60_000 }), close: () => bento.disconnectAll() };
    },
  },
  {
    name: 'cache-manager wrap',
    setup: (loader) => {
      const manager = createCacheManager({ ttl: 60_000 });
      return { read: () => manager.wrap(KEY, loader), close: () => manager.disconnect() };
    },
  },
];

interface Repetition {
  readonly loaderCalls: number;
  readonly wallMs: number;
  readonly correct: number;
}

async function once(contender: Contender): Promise<Repetition> {
  let loaderCalls = 0;
  const loader = async (): Promise<number> => {
    loaderCalls++;
    await new Promise((resolve) => setTimeout(resolve, LOADER_MS));
    return VALUE;
  };
  const target = contender.setup(loader);
  const start = process.hrtime.bigint();
  const reads: Promise<unknown>[] = new Array<Promise<unknown>>(CALLERS);
  for (let i = 0; i < CALLERS; i++) reads[i] = target.read();
  const results = await Promise.all(reads);
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  await target.close();
  return { loaderCalls, wallMs, correct: results.filter((value) => value === VALUE).length };
}

export async function run(context: ScenarioContext): Promise<Section> {
  const repetitions = context.quick ? 2 : 7;
  const byContender: { name: string; runs: Repetition[] }[] = [];
  context.log(`${id}: ${contenders.length} libraries × ${repetitions} runs of ${CALLERS} callers`);
  // Warm-up run per library (JIT, module-level lazy init), not reported.
  for (const contender of contenders) await once(contender);
  for (const contender of contenders) byContender.push({ name: contender.name, runs: [] });
  for (let r = 0; r < repetitions; r++) {
    for (let c = 0; c < contenders.length; c++) {
      collectGarbage();
      await yieldToEventLoop();
      (byContender[c] as { runs: Repetition[] }).runs.push(await once(contenders[c] as Contender));
    }
  }

  const rows: Row[] = byContender.map(({ name, runs }) => {
    const wall = median(runs.map((run) => run.wallMs));
    const calls = runs.map((run) => run.loaderCalls);
    const maxCalls = Math.max(...calls);
    const minCorrect = Math.min(...runs.map((run) => run.correct));
    const row: Row = {
      name,
      value: wall,
      extra: {
        calls: minCorrect === CALLERS && Math.min(...calls) === maxCalls ? String(maxCalls) : `${Math.min(...calls)}–${maxCalls}`,
        overhead: wall - LOADER_MS,
        perCaller: ((wall - LOADER_MS) * 1e6) / CALLERS,
        correct: `${minCorrect}/${CALLERS}`,
      },
    };
    if (name !== SUBJECT) return row;
    return {
      ...row,
      measured: `${maxCalls === 1 ? '1 call' : `up to ${maxCalls} calls`} in each of ${runs.length} runs`,
      verdict: calls.every((n) => n === 1) && minCorrect === CALLERS ? 'PASS' : 'MISS',
    };
  });

  return {
    id,
    title: `Stampede: ${CALLERS.toLocaleString('en-US')} concurrent reads of one cold key, ${LOADER_MS} ms loader`,
    unit: 'wall ms',
    target: `${SUBJECT}: exactly 1 loader call per stampede (every caller answered)`,
    columns: [
      { key: 'calls', label: 'loader calls' },
      { key: 'overhead', label: `ms over ${LOADER_MS}`, digits: 1 },
      { key: 'perCaller', label: 'ns/caller', digits: 0 },
      { key: 'correct', label: 'answered' },
    ],
    rows,
    notes: [
      `median of ${repetitions} runs, each on a fresh cache; wall = first read issued → last read resolved (includes issuing the ${CALLERS.toLocaleString('en-US')} reads)`,
      `ns/caller = (wall − ${LOADER_MS} ms) / callers: the coordination cost each extra caller adds`,
    ],
    details: { runs: byContender },
  };
}
