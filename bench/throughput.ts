/**
 * Invalidation throughput through one Redis: the bench process invalidates
 * many distinct keys as fast as it can, a child process (throughput-child.ts)
 * counts the remote `invalidated` events until it has seen every key.
 * Throughput = keys / (first invalidate call in the sender → last key seen by
 * the receiver), both read as `performance.timeOrigin + performance.now()`.
 *
 * Two ways to issue them, to show what coalescing buys:
 *   - 1 000 keys per tick: `await Promise.all(batch.map((k) => cache.invalidate(k)))`,
 *     batch after batch; the invalidations of one tick go out as one message;
 *   - 1 key per tick: `await cache.invalidate(k)`, one after the other; nothing
 *     to coalesce, one message (and one Redis round trip) per key.
 */
import { createCache, redisTransport } from '../src/index.ts';
import { spawnChild } from '../test/support/child.ts';
import { startRedis, type RedisServer } from '../test/support/redis-server.ts';
import { collectGarbage, median, relativeSpread, type ScenarioContext } from './harness.ts';
import { clockOffset, PEER_OPTIONS, wallNow, messageOfType } from './peers.ts';
import { ratiosTo, type Row, type Section } from './report.ts';

export const id = 'throughput';
export const THROUGHPUT_CACHE = 'bench-throughput';
const TARGET_PER_S = 50_000;
const BATCH = 1_000;

/** Each answered once handled (`expect`: armed; `close`: cache and transport closed). */
export type ThroughputToChild = { type: 'expect'; run: number; prefix: string; count: number } | { type: 'report' } | { type: 'close' };
export type ThroughputToParent =
  | { type: 'ready'; clockOffset: number }
  | {
      type: 'complete';
      run: number;
      /** When the receiver had seen every key (or when asked to report), wallNow() ms. */
      at: number;
      /** When it saw the first key. */
      firstAt: number;
      received: number;
      duplicates: number;
      degradations: number;
      rejected: number;
    };

interface Mode {
  readonly name: string;
  readonly count: (quick: boolean) => number;
  readonly issue: (invalidate: (key: string) => Promise<void>, keys: readonly string[]) => Promise<void>;
}

const COALESCED = `coherent-cache, ${BATCH.toLocaleString('en-US')} keys/tick`;
const SEQUENTIAL = 'coherent-cache, 1 key/tick';

const MODES: readonly Mode[] = [
  {
    name: COALESCED,
    count: (quick) => (quick ? 100_000 : 500_000),
    issue: async (invalidate, keys) => {
      const pending = new Array<Promise<void>>(BATCH);
      for (let start = 0; start < keys.length; start += BATCH) {
        const end = Math.min(start + BATCH, keys.length);
        pending.length = end - start;
        for (let i = start; i < end; i++) pending[i - start] = invalidate(keys[i] as string);
        await Promise.all(pending);
      }
    },
  },
  {
    name: SEQUENTIAL,
    count: (quick) => (quick ? 5_000 : 20_000),
    issue: async (invalidate, keys) => {
      for (const key of keys) await invalidate(key);
    },
  },
];

interface Run {
  readonly mode: string;
  readonly keys: number;
  readonly received: number;
  /** Keys per second, first call → receiver has every key. */
  readonly perSecond: number;
  /** Keys per second the sender got through (first call → last call resolved). */
  readonly senderPerSecond: number;
  /** How long after the sender finished the receiver had every key, ms. */
  readonly receiverLagMs: number;
  readonly messages: number;
  readonly publishedKeys: number;
  readonly duplicates: number;
  readonly degradations: number;
  readonly rejected: number;
  readonly clockSkewMs: number;
}

const isType = <T extends ThroughputToParent['type']>(type: T) => messageOfType<ThroughputToParent, T>(type);

async function measureRuns(context: ScenarioContext, redis: RedisServer, repetitions: number): Promise<Run[]> {
  const child = await spawnChild<ThroughputToChild, boolean, ThroughputToParent>(new URL('./throughput-child.ts', import.meta.url), [redis.url], PEER_OPTIONS);
  const transport = redisTransport({ url: redis.url });
  const cache = createCache<number>({ name: THROUGHPUT_CACHE, transport });
  const invalidate = (key: string): Promise<void> => cache.invalidate(key);
  const runs: Run[] = [];
  try {
    await cache.ready();
    const ready = await child.waitFor(isType('ready'), { what: 'ready', timeoutMs: 30_000 });
    const clockSkewMs = ready.clockOffset - clockOffset();
    let run = 0;
    // The first repetition of each mode is a warm-up (JIT, connection buffers) on a smaller count.
    for (let repetition = -1; repetition < repetitions; repetition++) {
      for (const mode of MODES) {
        run++;
        const count = repetition < 0 ? Math.ceil(mode.count(context.quick) / 10) : mode.count(context.quick);
        const prefix = `r${run}:`;
        const keys = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
        await child.request({ type: 'expect', run, prefix, count });
        collectGarbage();
        const before = cache.stats().published;
        const startedAt = wallNow();
        await mode.issue(invalidate, keys);
        const sentAt = wallNow();
        const after = cache.stats().published;
        const isComplete = (m: ThroughputToParent): m is Extract<ThroughputToParent, { type: 'complete' }> => m.type === 'complete' && m.run === run;
        let complete: Extract<ThroughputToParent, { type: 'complete' }>;
        try {
          complete = await child.waitFor(isComplete, { what: 'every key', timeoutMs: 15_000 });
        } catch {
          await child.request({ type: 'report' });
          complete = await child.waitFor(isComplete, { what: 'a partial count', timeoutMs: 5_000 });
        }
        const result: Run = {
          mode: mode.name,
          keys: count,
          received: complete.received,
          perSecond: (count * 1000) / (complete.at - startedAt),
          senderPerSecond: (count * 1000) / (sentAt - startedAt),
          receiverLagMs: complete.at - sentAt,
          messages: after.messages - before.messages,
          publishedKeys: after.keys - before.keys,
          duplicates: complete.duplicates,
          degradations: complete.degradations,
          rejected: complete.rejected,
          clockSkewMs,
        };
        context.log(
          `${id}: ${repetition < 0 ? 'warm-up' : `run ${repetition + 1}`} ${mode.name}: ${Math.round(result.perSecond).toLocaleString('en-US')} keys/s end to end, ${result.received}/${count} received in ${result.messages} messages`,
        );
        if (result.received !== count || result.duplicates !== 0 || result.degradations !== 0 || result.rejected !== 0) {
          throw new Error(
            `${id}: ${mode.name}: the receiver saw ${result.received} of ${count} keys (${result.duplicates} duplicates, ${result.degradations} degradations, ${result.rejected} rejected messages); sender published ${result.publishedKeys} keys in ${result.messages} messages`,
          );
        }
        if (repetition >= 0) runs.push(result);
      }
    }
    await child.request({ type: 'close' });
  } finally {
    await child.stop();
    await cache.close();
    await transport.close();
  }
  return runs;
}

export async function run(context: ScenarioContext): Promise<Section> {
  const repetitions = context.quick ? 1 : 3;
  const redis = await startRedis();
  let runs: Run[];
  try {
    context.log(`${id}: redis-server on ${redis.url}; ${MODES.map((mode) => `${mode.count(context.quick).toLocaleString('en-US')} × ${mode.name}`).join(', ')}; ${repetitions} runs each`);
    runs = await measureRuns(context, redis, repetitions);
  } finally {
    await redis.stop();
  }

  const rows: Row[] = MODES.map((mode) => {
    const mine = runs.filter((r) => r.mode === mode.name);
    const rates = mine.map((r) => r.perSecond);
    const value = median(rates);
    const messages = median(mine.map((r) => r.messages));
    const keys = mode.count(context.quick);
    return {
      name: mode.name,
      value,
      ...(mine.length > 1 ? { spread: relativeSpread(rates) } : {}),
      extra: {
        sender: median(mine.map((r) => r.senderPerSecond)),
        lag: median(mine.map((r) => r.receiverLagMs)),
        keys,
        messages,
        perMessage: keys / messages,
        received: `${Math.min(...mine.map((r) => r.received))}/${keys}`,
      },
    };
  });
  const judged = ratiosTo(rows, SEQUENTIAL).map((row) => {
    if (row.name !== COALESCED) return row;
    return {
      ...row,
      verdict: row.value >= TARGET_PER_S ? ('PASS' as const) : ('MISS' as const),
      marginal: Math.abs(row.value / TARGET_PER_S - 1) < (row.spread ?? 0),
      measured: `${Math.round(row.value).toLocaleString('en-US')} invalidations/s`,
    };
  });
  const skewUs = Math.max(...runs.map((r) => Math.abs(r.clockSkewMs))) * 1000;
  return {
    id,
    title: 'Invalidation throughput: distinct keys from one process to another through one loopback redis-server',
    unit: 'keys/s',
    reference: SEQUENTIAL,
    target: `${COALESCED} ≥ ${TARGET_PER_S.toLocaleString('en-US')} invalidations/s end to end`,
    columns: [
      { key: 'sender', label: 'sender keys/s', digits: 0 },
      { key: 'lag', label: 'receiver lag ms', digits: 1 },
      { key: 'keys', label: 'keys', digits: 0 },
      { key: 'messages', label: 'messages', digits: 0 },
      { key: 'perMessage', label: 'keys/message', digits: 1 },
      { key: 'received', label: 'received' },
    ],
    rows: judged,
    notes: [
      `median of ${repetitions} run${repetitions > 1 ? 's' : ''} per mode (after a warm-up run at a tenth of the count); keys/s = keys / (sender's first invalidate() → receiver has seen a remote \`invalidated\` event for every key), clocks compared as performance.timeOrigin + performance.now() (they agree within ${skewUs.toFixed(1)} µs)`,
      `${BATCH.toLocaleString('en-US')} keys/tick: \`await Promise.all(batch.map((k) => cache.invalidate(k)))\` batch after batch, each batch coalesced into one message; 1 key/tick: \`await cache.invalidate(k)\` one after the other (one message and one round trip per key)`,
      'sender keys/s: until the sender\'s last invalidate() resolved (its publish acknowledged by Redis); receiver lag: how long after that the receiver had every key (negative when the last message reached the receiver before Redis\'s reply reached the sender)',
      'messages = the sender\'s stats().published.messages; both caches with default options (no-op OTel providers); the sender also hears and skips its own messages',
    ],
    details: { runs },
  };
}
