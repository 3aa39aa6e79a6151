/**
 * Recovery after a gap in the link (issue 13, "Measure"): instance B holds
 * 10 000 keys, loaded through its loader; the link goes away for 3 s while
 * instance A invalidates 100 of them; once B is back, how many loads hit the
 * source of truth in the next second, does any read return a value older than
 * an acknowledged write, and how fast is the hit ratio back to what it was.
 *
 * Two faults, each on a fresh private redis-server (test/support/redis-server.ts):
 *   - `server paused`: SIGSTOP for 3 s, then SIGCONT. TCP stays open, nothing
 *     answers; A's publishes time out and are retried (coherent-cache) or wait
 *     for the server (bentocache), B's heartbeat times out (coherent-cache);
 *   - `subscriber dropped`: the server kills B's subscriber connection alone
 *     (CLIENT KILL ID, found by its connection name and pub/sub flag, as an
 *     output-buffer limit or a broken proxy would), and that connection's
 *     ioredis retryStrategy waits out the rest of 3 s before reconnecting (a
 *     kill alone reconnects in milliseconds and leaves no gap). A publishes
 *     normally meanwhile: its writes are acknowledged during the gap.
 *
 * Three contenders, one after another, each on its own server, A and B in
 * this process with their own connections:
 *   - coherent-cache with the log (`redisTransport({ url, log: true })`);
 *   - coherent-cache without it (a gap is repaired by dropping everything);
 *   - bentocache, memory L1 + its Redis bus, no L2 (as in propagation.ts).
 *
 * B serves a steady read load the whole time: the 10 000 keys in order, in a
 * loop, paced at READ_RATE reads/s, every read awaited (`get(key, loader)`,
 * `getOrSet({ key, factory })`); the loader returns the source's current
 * version of the key and is counted. A read is stale when it returns a version
 * older than the source's for a key whose invalidation A had acknowledged
 * (its promise resolved) before the read began. "Back" is when B's link is
 * connected again: coherent-cache's `link.changed` → connected (with the log
 * that comes after the repair); bentocache says nothing, so its subscriber is
 * watched from the server (CLIENT LIST) in the dropped case, and the server's
 * SIGCONT is taken in the paused one (its subscriber never disconnects).
 */
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver } from 'bentocache/drivers/redis';
import type { RedisOptions } from 'ioredis';
import { createCache, redisTransport, type Cache, type CacheEvent } from '../src/index.ts';
import { startRedis, type RedisServer } from '../test/support/redis-server.ts';
import type { ScenarioContext } from './harness.ts';
import { sleep } from './peers.ts';
import type { Row, Section } from './report.ts';

export const id = 'recovery';

const KEYS = 10_000;
const INVALIDATED = 100;
const FAULT_MS = 3_000;
/** The windows before the fault and after B is back. */
const WINDOW_MS = 1_000;
/** B's steady read load. */
const READ_RATE = 50_000;
/** Long enough that nothing expires during the 3 s gap; coherent-cache serves nothing older than this past an acknowledged write, whatever fails. */
const DEGRADED_TTL = 10_000;
/** A's invalidations may wait this long for the server (retries included). */
const INVALIDATE_TIMEOUT = 20_000;
const TTL = 10 * 60_000;
/** A's 100 invalidations, one every INVALIDATE_EVERY_MS from INVALIDATE_FROM_MS into the fault. */
const INVALIDATE_FROM_MS = 200;
const INVALIDATE_EVERY_MS = 20;
const MAX_LOADS = 101;
const MAX_HIT_DROP_POINTS = 1;
const BACK_TIMEOUT_MS = 15_000;
const SETTLE_MS = 500;
const CACHE_NAME = 'bench-recovery';
const B_CONNECTION = 'bench-recovery-b';

const CONTENDERS = ['coherent-cache (log)', 'coherent-cache (full resync)', 'bentocache'] as const;
type Contender = (typeof CONTENDERS)[number];
const SUBJECT: Contender = 'coherent-cache (log)';
const FAULTS = ['server paused 3 s', 'B subscriber dropped 3 s'] as const;
type Fault = (typeof FAULTS)[number];

const keys = Array.from({ length: KEYS }, (_, i) => `k:${i}`);
const invalidatedIndex = (j: number): number => j * (KEYS / INVALIDATED);

/** When B's subscriber may reconnect: a retryStrategy that waits for it, ioredis's default otherwise. */
interface ReconnectHold {
  until: number;
}

function retryStrategy(hold: ReconnectHold): (times: number) => number {
  return (times) => {
    const wait = hold.until - Date.now();
    return wait > 0 ? wait : Math.min(times * 50, 2_000);
  };
}

/** One trial's instances: A writes, B reads. */
interface Pair {
  /** B's read of key `i` through its loader. */
  readonly read: (i: number) => Promise<number>;
  /** A's invalidation of key `i` (after the source's version moved). */
  readonly invalidate: (i: number) => Promise<unknown>;
  /** Called just before the fault is made (trial clock, ms). */
  readonly faultStarts: (at: number) => void;
  /** Resolves with the time (ms, trial clock) B is back after the fault began at `faultAt`. */
  readonly back: (faultAt: number, fault: Fault, resumedAt: Promise<number>) => Promise<{ at: number; how: string }>;
  /** What B's cache said about its link and repairs, for the notes. */
  readonly report: () => Repairs;
  readonly close: () => Promise<void>;
}

interface Repairs {
  readonly modes: string[];
  readonly dropped: number[];
  readonly linkChanges: string[];
  /** A's and B's events but per-key ones (trial clock, ms), for the JSON details. */
  readonly timeline: { at: number; who: 'A' | 'B'; event: string }[];
}

/** One line per event, without the values or the per-key churn of a fill. */
function describeEvent(event: CacheEvent<number>): string | undefined {
  switch (event.type) {
    case 'link.changed':
      return `link ${event.state} (${event.reason})`;
    case 'resynced':
      return `resynced ${event.mode}${event.cause === undefined ? '' : ` (${event.cause})`} missed ${event.missed} keys ${event.keys} dropped ${event.dropped}${event.head === undefined ? '' : ` head ${event.head.seq}`}`;
    case 'repair.started':
      return `repair.started ${event.reason}${event.after === undefined ? '' : ` after ${event.after.seq}`}`;
    case 'repair.failed':
      return `repair.failed ${event.errorName}`;
    case 'message.received':
      return `message.received ${event.op} ${event.keys} keys${event.position === undefined ? '' : ` at ${event.position.seq}`}`;
    case 'published':
      return `published ${event.messages} messages ${event.keys.length} keys`;
    case 'publish.failed':
      return `publish.failed ${event.keys.length} keys ${event.errorName}`;
    case 'invalidated':
      return event.scope === 'all' ? `invalidated all (${event.origin}, ${event.reason})` : undefined;
    default:
      return undefined;
  }
}

interface TrialClock {
  readonly now: () => number;
}

interface Source {
  readonly versions: Uint32Array;
  /** When each loader call ran (trial clock, ms), and for which key. */
  readonly loadTimes: number[];
  readonly loadKeys: number[];
  readonly clock: TrialClock;
}

function load(source: Source, i: number): number {
  source.loadTimes.push(source.clock.now());
  source.loadKeys.push(i);
  return source.versions[i] as number;
}

async function coherentPair(redis: RedisServer, logged: boolean, source: Source, hold: ReconnectHold): Promise<Pair> {
  const log = logged ? { log: true } : {};
  const transportA = redisTransport({ url: redis.url, ...log, redisOptions: { connectionName: 'bench-recovery-a' } });
  const transportB = redisTransport({ url: redis.url, ...log, redisOptions: { connectionName: B_CONNECTION, retryStrategy: retryStrategy(hold) } });
  const common = { name: CACHE_NAME, ttl: TTL, degradedTtl: DEGRADED_TTL, maxEntries: KEYS + 1_000, metrics: false, tracing: false } as const;
  const a: Cache<number> = createCache<number>({ ...common, transport: transportA, invalidateTimeout: INVALIDATE_TIMEOUT });
  const b: Cache<number> = createCache<number>({ ...common, transport: transportB });
  const repairs: Repairs = { modes: [], dropped: [], linkChanges: [], timeline: [] };
  const connectedAt: number[] = [];
  let faultAt = Number.POSITIVE_INFINITY;
  const record = (who: 'A' | 'B') => (event: CacheEvent<number>) => {
    const line = describeEvent(event);
    if (line !== undefined) repairs.timeline.push({ at: source.clock.now(), who, event: line });
  };
  a.subscribe(record('A'));
  b.subscribe(record('B'));
  b.subscribe((event) => {
    const at = source.clock.now();
    if (event.type === 'link.changed') {
      if (at >= faultAt) repairs.linkChanges.push(`${event.state} (${event.reason}) at +${(at - faultAt).toFixed(0)} ms`);
      if (event.state === 'connected') connectedAt.push(at);
    } else if (event.type === 'resynced' && at >= faultAt) {
      repairs.modes.push(event.mode === 'exact' ? `exact (${event.missed} missed, ${event.keys} keys)` : `full (${event.cause ?? '?'})`);
      repairs.dropped.push(event.dropped);
    } else if (event.type === 'repair.failed' && at >= faultAt) {
      repairs.linkChanges.push(`repair failed (${event.errorName}) at +${(at - faultAt).toFixed(0)} ms`);
    }
  });
  await Promise.all([a.ready(), b.ready()]);
  return {
    read: (i) => b.get(keys[i] as string, () => load(source, i)),
    invalidate: (i) => a.invalidate(keys[i] as string),
    faultStarts: (at) => void (faultAt = at),
    back: async (at, _fault, resumedAt) => {
      const deadline = source.clock.now() + BACK_TIMEOUT_MS;
      let resumed = Number.POSITIVE_INFINITY;
      void resumedAt.then((t) => (resumed = t));
      // Back = connected again after having gone degraded during the fault.
      while (source.clock.now() < deadline) {
        const degraded = repairs.linkChanges.some((line) => line.startsWith('degraded'));
        const again = connectedAt.find((t) => t >= at);
        if (degraded && again !== undefined && b.snapshot().link === 'connected') return { at: again, how: 'link.changed → connected' };
        // A pause shorter than the heartbeat timeout can go unnoticed: then the link never left.
        if (!degraded && source.clock.now() > resumed + 2_000 && b.snapshot().link === 'connected') return { at: resumed, how: 'link never degraded; back = end of the fault' };
        await sleep(5);
      }
      throw new Error(`${id}: coherent-cache B was not connected again within ${BACK_TIMEOUT_MS} ms of the fault (${repairs.linkChanges.join('; ') || 'no link change'})`);
    },
    report: () => repairs,
    close: async () => {
      await Promise.allSettled([a.close(), b.close()]);
      await Promise.allSettled([transportA.close(), transportB.close()]);
    },
  };
}

/** `CLIENT LIST` as records. */
async function clients(redis: RedisServer): Promise<Map<string, string>[]> {
  const text = String(await redis.command('CLIENT', 'LIST'));
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => new Map(line.trim().split(' ').map((field) => {
      const eq = field.indexOf('=');
      return [field.slice(0, eq), field.slice(eq + 1)] as [string, string];
    })));
}

/** B's subscribed connection(s), by name and the pub/sub flag. */
async function subscriberIds(redis: RedisServer): Promise<string[]> {
  return (await clients(redis)).filter((c) => c.get('name') === B_CONNECTION && (c.get('flags') ?? '').includes('P')).map((c) => c.get('id') as string);
}

async function bentoPair(redis: RedisServer, source: Source, hold: ReconnectHold): Promise<Pair> {
  const store = 'recovery';
  const make = (connection: RedisOptions, maxItems: number): BentoCache<Record<string, ReturnType<typeof bentostore>>> =>
    new BentoCache({
      default: store,
      stores: { [store]: bentostore().useL1Layer(memoryDriver({ maxItems })).useBus(redisBusDriver({ connection })) },
    });
  const a = make({ host: redis.host, port: redis.port, connectionName: 'bench-recovery-a' }, 100);
  const b = make({ host: redis.host, port: redis.port, connectionName: B_CONNECTION, retryStrategy: retryStrategy(hold) }, KEYS + 1_000);
  // bentocache subscribes in the background and says nothing when done: probe until B hears A.
  // Its store (and bus) is made on first use.
  await b.has({ key: 'probe' });
  let heard = false;
  b.on('bus:message:received', () => (heard = true));
  const deadline = Date.now() + 10_000;
  for (let n = 0; !heard; n++) {
    if (Date.now() > deadline) throw new Error(`${id}: bentocache B never heard A's bus`);
    await a.delete({ key: `probe:${n}` });
    await sleep(10);
  }
  const subscribedAs = await subscriberIds(redis);
  return {
    read: (i) => b.getOrSet({ key: keys[i] as string, factory: () => load(source, i), ttl: TTL }),
    invalidate: (i) => a.delete({ key: keys[i] as string }),
    faultStarts: () => undefined,
    back: async (faultAt, fault, resumedAt) => {
      if (fault === 'server paused 3 s') {
        // Its subscriber connection stays open through SIGSTOP (no heartbeat): back when the server is.
        const at = await resumedAt;
        const ids = await subscriberIds(redis);
        const kept = ids.length === 1 && subscribedAs.length === 1 && ids[0] === subscribedAs[0];
        return { at, how: `SIGCONT (subscriber connection ${kept ? 'kept' : `was ${subscribedAs.join(',')}, now ${ids.join(',')}`})` };
      }
      const deadline = source.clock.now() + BACK_TIMEOUT_MS;
      while (source.clock.now() < deadline) {
        // The time the poll answered: it was subscribed again by then.
        if ((await subscriberIds(redis)).length > 0) return { at: source.clock.now(), how: 'subscriber SUBSCRIBEd again (CLIENT LIST, polled every 5 ms)' };
        await sleep(5);
      }
      throw new Error(`${id}: bentocache B's subscriber did not come back within ${BACK_TIMEOUT_MS} ms of the fault at ${faultAt}`);
    },
    report: () => ({ modes: ['none (keeps its entries)'], dropped: [], linkChanges: [], timeline: [] }),
    close: async () => {
      await Promise.allSettled([a.disconnectAll(), b.disconnectAll()]);
    },
  };
}

interface Trial {
  readonly fault: Fault;
  readonly contender: Contender;
  readonly backAfterMs: number;
  readonly backHow: string;
  readonly before: Window;
  readonly gap: Window;
  readonly after: Window;
  readonly acked: number;
  readonly lateAcks: number;
  readonly failedAcks: number;
  readonly staleKeysAfter: number;
  readonly worstStaleMs: number;
  /** Loads outside the gap and the second after it (ms from the fault, key), at most 20: none are expected. */
  readonly strayLoads: { atMs: number; key: number }[];
  readonly strayLoadCount: number;
  readonly repairs: Repairs;
  /** The same timeline, in ms from the fault. */
  readonly timeline: string[];
}

interface Window {
  readonly reads: number;
  readonly loads: number;
  readonly stale: number;
  readonly hitRatio: number;
}

async function trial(contender: Contender, fault: Fault, context: ScenarioContext): Promise<Trial> {
  const redis = await startRedis();
  const started = performance.now();
  const clock: TrialClock = { now: () => performance.now() - started };
  const horizon = 120_000;
  const source: Source = { versions: new Uint32Array(KEYS).fill(1), loadTimes: [], loadKeys: [], clock };
  /** Reads begun in each ms of the trial. */
  const reads = new Uint32Array(horizon);
  /** Stale reads: when they began, their key, and when its invalidation had been acknowledged. */
  const staleReads: { at: number; key: number; acked: number }[] = [];
  const ackAt = new Float64Array(KEYS).fill(-1);
  const hold: ReconnectHold = { until: 0 };
  let pair: Pair | undefined;
  let stopReading = false;
  let reader: Promise<void> = Promise.resolve();
  try {
    pair = contender === 'bentocache' ? await bentoPair(redis, source, hold) : await coherentPair(redis, contender === SUBJECT, source, hold);
    const p = pair;
    for (let i = 0; i < KEYS; i++) await p.read(i);
    if (source.loadTimes.length !== KEYS) throw new Error(`${id}: ${contender} B loaded ${source.loadTimes.length} of ${KEYS} keys while filling`);
    // Let the fill's aftermath settle (bentocache's B announces each of its 10 000 sets on the bus).
    await sleep(SETTLE_MS);
    const filledAt = clock.now();

    const readOne = async (i: number): Promise<void> => {
      const at = clock.now();
      const value = await p.read(i);
      const slot = Math.floor(at);
      if (slot < horizon) reads[slot] = (reads[slot] as number) + 1;
      const acked = ackAt[i] as number;
      if (acked >= 0 && acked <= at && value < (source.versions[i] as number)) staleReads.push({ at, key: i, acked });
    };
    // A steady load, paced; a backlog (a slow stretch) is caught up at most 100 ms' worth.
    reader = (async () => {
      const readerStart = clock.now();
      let done = 0;
      let next = 0;
      while (!stopReading) {
        const due = Math.floor(((clock.now() - readerStart) * READ_RATE) / 1000);
        if (due - done > READ_RATE / 10) done = due - READ_RATE / 10;
        const sliceEnd = clock.now() + 2;
        while (done < due && clock.now() < sliceEnd) {
          await readOne(next);
          next = next + 1 === KEYS ? 0 : next + 1;
          done++;
        }
        if (done >= due) await sleep(1);
        else await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    await sleep(WINDOW_MS);
    const faultAt = clock.now();
    p.faultStarts(faultAt);
    let resumed: (at: number) => void = () => undefined;
    const resumedAt = new Promise<number>((resolve) => (resumed = resolve));
    if (fault === 'server paused 3 s') {
      await redis.pause();
      setTimeout(() => void redis.resume().then(() => resumed(clock.now())), FAULT_MS - (clock.now() - faultAt));
    } else {
      hold.until = Date.now() + FAULT_MS;
      const ids = await subscriberIds(redis);
      if (ids.length !== 1) throw new Error(`${id}: expected one subscriber connection named ${B_CONNECTION}, found ${ids.length}`);
      const killed = await redis.command('CLIENT', 'KILL', 'ID', ids[0] as string);
      if (killed !== 1) throw new Error(`${id}: CLIENT KILL ID ${ids[0]} killed ${String(killed)}`);
      resumed(faultAt + FAULT_MS);
    }
    const backed = p.back(faultAt, fault, resumedAt);

    // Meanwhile A invalidates 100 keys, one every 20 ms, each write first moving the source's version.
    const acks: Promise<void>[] = [];
    let failedAcks = 0;
    for (let j = 0; j < INVALIDATED; j++) {
      const wait = faultAt + INVALIDATE_FROM_MS + j * INVALIDATE_EVERY_MS - clock.now();
      if (wait > 0) await sleep(wait);
      const i = invalidatedIndex(j);
      source.versions[i] = (source.versions[i] as number) + 1;
      acks.push(
        Promise.resolve(p.invalidate(i)).then(
          () => void (ackAt[i] = clock.now()),
          () => void failedAcks++,
        ),
      );
    }
    const back = await backed;
    const backAt = back.at;
    const afterEnd = backAt + WINDOW_MS;
    await sleep(Math.max(0, afterEnd - clock.now()) + 5);
    stopReading = true;
    await reader;
    const lateAcks = Array.from(ackAt).filter((t) => t > afterEnd).length;
    // Every invalidation must be acknowledged by now, or the stale count means little.
    await Promise.race([Promise.all(acks), sleep(INVALIDATE_TIMEOUT)]);
    const acked = Array.from(ackAt).filter((t) => t >= 0).length;

    const windowOf = (from: number, to: number): Window => {
      let r = 0;
      for (let t = Math.max(0, Math.round(from)); t < Math.min(horizon, Math.round(to)); t++) r += reads[t] as number;
      const l = source.loadTimes.filter((t) => t >= from && t < to).length;
      const s = staleReads.filter((read) => read.at >= from && read.at < to).length;
      return { reads: r, loads: l, stale: s, hitRatio: r === 0 ? Number.NaN : 1 - l / r };
    };
    const before = windowOf(faultAt - WINDOW_MS, faultAt);
    const gap = windowOf(faultAt, backAt);
    const after = windowOf(backAt, afterEnd);
    const staleAfter = staleReads.filter((read) => read.at >= backAt && read.at < afterEnd);
    const strays: { atMs: number; key: number }[] = [];
    source.loadTimes.forEach((t, n) => {
      if (t >= filledAt && (t < faultAt || t >= afterEnd)) strays.push({ atMs: t - faultAt, key: source.loadKeys[n] as number });
    });
    const repairs = p.report();
    const result: Trial = {
      fault,
      contender,
      backAfterMs: backAt - faultAt,
      backHow: back.how,
      before,
      gap,
      after,
      acked,
      lateAcks,
      failedAcks,
      staleKeysAfter: new Set(staleAfter.map((read) => read.key)).size,
      worstStaleMs: Math.max(0, ...staleAfter.map((read) => read.at - read.acked)),
      strayLoads: strays.slice(0, 20),
      strayLoadCount: strays.length,
      repairs,
      timeline: repairs.timeline.map((line) => `${(line.at - faultAt).toFixed(1)} ms ${line.who}: ${line.event}`),
    };
    context.log(
      `${id}: ${fault}, ${contender}: back after ${result.backAfterMs.toFixed(0)} ms (${back.how}); loads in 1 s ${after.loads} (gap ${gap.loads}, outside ${strays.length}), stale after ${after.stale}, hit ${pct(before.hitRatio)} → ${pct(after.hitRatio)}; repairs ${repairs.modes.join(', ') || 'none'}`,
    );
    return result;
  } finally {
    stopReading = true;
    await reader.catch(() => undefined);
    if (redis.paused) await redis.resume().catch(() => undefined);
    await Promise.race([pair?.close(), sleep(5_000)]);
    await redis.stop();
  }
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(2)} %`;
}

export async function run(context: ScenarioContext): Promise<Section> {
  const trials: Trial[] = [];
  context.log(`${id}: ${FAULTS.length} faults × ${CONTENDERS.length} contenders, each on a fresh redis-server, ~7 s each`);
  for (const fault of FAULTS) for (const contender of CONTENDERS) trials.push(await trial(contender, fault, context));

  const rows: Row[] = trials.map((t) => {
    const judged = t.contender === SUBJECT;
    const hitOk = t.after.hitRatio >= t.before.hitRatio - MAX_HIT_DROP_POINTS / 100;
    const pass = t.after.loads <= MAX_LOADS && t.after.stale === 0 && hitOk;
    return {
      name: `${t.fault === 'server paused 3 s' ? 'paused' : 'sub dropped'} · ${t.contender}`,
      value: t.after.loads,
      ...(judged
        ? {
            verdict: pass ? ('PASS' as const) : ('MISS' as const),
            measured: `${t.fault}: ${t.after.loads} loads, ${t.after.stale} stale, hit ${pct(t.before.hitRatio)} → ${pct(t.after.hitRatio)} in the 1st s`,
          }
        : {}),
      extra: {
        repair: t.repairs.modes.join(', ') || '—',
        gapLoads: t.gap.loads,
        gapStale: t.gap.stale,
        stale: t.after.stale,
        staleKeys: t.staleKeysAfter,
        staleMs: t.after.stale === 0 ? '' : t.worstStaleMs.toFixed(1),
        readsAfter: t.after.reads,
        hitBefore: t.before.hitRatio * 100,
        hitAfter: t.after.hitRatio * 100,
        back: t.backAfterMs,
      },
    };
  });
  const notes: string[] = [
    `B holds ${KEYS.toLocaleString('en-US')} keys (loaded through its loader), and reads them in order, in a loop, at ${READ_RATE.toLocaleString('en-US')} reads/s (each awaited; a backlog is caught up to 100 ms' worth); A invalidates ${INVALIDATED} of them (every ${KEYS / INVALIDATED}th) during the fault, one every ${INVALIDATE_EVERY_MS} ms from +${INVALIDATE_FROM_MS} ms, each after moving the source's version`,
    `paused: redis-server SIGSTOPped for ${FAULT_MS / 1000} s then SIGCONTed; sub dropped: B's subscriber connection alone killed by the server (CLIENT KILL ID), its ioredis retryStrategy holding the reconnect until ${FAULT_MS / 1000} s after the kill; A's connections untouched (its writes are acknowledged during the gap)`,
    `paused: A's publishes wait for the server, so its invalidations reach the log and the channel only at SIGCONT, as B comes back; B then hears most of them live, and the log's repair finds few or none missed (the subscriber-dropped case is the one the repair does all the work in)`,
    `loads = loader calls in the first second after B is back (coherent-cache: link.changed → connected, which with the log follows the repair; bentocache: its subscriber SUBSCRIBEd again, or SIGCONT when paused); 'gap loads/stale' = from the fault to back`,
    `stale = reads that began after A's invalidation of the key was acknowledged and returned an older version, counted from B back to the end of the second ('gap stale' before); 'stale ≤ ms after ack' = the latest of them after its acknowledgement: a few ms is delivery lag (the write acknowledged to A before B had handled the message, as after any PUBLISH), seconds is an invalidation B never got. coherent-cache may serve stale values during the gap by design, at most degradedTtl (${DEGRADED_TTL / 1000} s here) past the write; bentocache keeps them until their ttl (${TTL / 60_000} min here)`,
    `hit % = 1 − loads / reads, over the second before the fault and the first second after back ('reads 1st s': the pace B achieved; below ${READ_RATE.toLocaleString('en-US')} when it could not keep up); 'back after ms' = from the fault to B back`,
    `coherent-cache: degradedTtl ${DEGRADED_TTL / 1000} s, invalidateTimeout ${INVALIDATE_TIMEOUT / 1000} s on A, heartbeats, timeouts and retries at their defaults (heartbeat 1 s, timeout 2 s, publishTimeout 2 s, retryInterval ≤ 1 s); ttl ${TTL / 60_000} min everywhere; bentocache with defaults (its bus retries failed publishes; no L2)`,
    `target judged on the coherent-cache (log) rows: loads ≤ ${MAX_LOADS}, 0 stale reads once back, hit ratio of the first second within ${MAX_HIT_DROP_POINTS} point of before`,
  ];
  for (const t of trials) {
    const problems: string[] = [];
    if (t.acked !== INVALIDATED) problems.push(`only ${t.acked} of ${INVALIDATED} invalidations acknowledged (${t.failedAcks} failed)`);
    if (t.lateAcks > 0) problems.push(`${t.lateAcks} acknowledged after the measured second (their staleness is not counted)`);
    if (t.contender === SUBJECT && !t.repairs.modes.every((mode) => mode.startsWith('exact'))) problems.push(`repair was not exact: ${t.repairs.modes.join(', ')}`);
    if (t.strayLoadCount > 0) problems.push(`${t.strayLoadCount} loads outside the gap and the second after it (first at ${t.strayLoads.map((l) => `${l.atMs.toFixed(0)} ms k:${l.key}`).slice(0, 3).join(', ')})`);
    if (t.after.stale > 0) problems.push(`${t.after.stale} stale reads on ${t.staleKeysAfter} keys once back, up to ${t.worstStaleMs.toFixed(0)} ms after the acknowledgement`);
    const link = t.repairs.linkChanges.length > 0 ? `; link: ${t.repairs.linkChanges.join(', ')}` : '';
    notes.push(`${t.fault}, ${t.contender}: back after ${t.backAfterMs.toFixed(0)} ms (${t.backHow})${link}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}`);
  }
  return {
    id,
    title: 'Recovery after a 3 s gap: B holds 10 000 keys, A invalidates 100 meanwhile; loader calls in the first second after B is back',
    unit: 'loads in 1 s',
    target: `coherent-cache (log): loads ≤ ${MAX_LOADS}, 0 stale reads, hit ratio within ${MAX_HIT_DROP_POINTS} point of before within 1 s`,
    columns: [
      { key: 'repair', label: 'repair' },
      { key: 'gapLoads', label: 'gap loads', digits: 0 },
      { key: 'gapStale', label: 'gap stale', digits: 0 },
      { key: 'stale', label: 'stale', digits: 0 },
      { key: 'staleKeys', label: 'stale keys', digits: 0 },
      { key: 'staleMs', label: 'stale ≤ ms after ack' },
      { key: 'hitBefore', label: 'hit % before', digits: 2 },
      { key: 'hitAfter', label: 'hit % 1st s', digits: 2 },
      { key: 'readsAfter', label: 'reads 1st s', digits: 0 },
      { key: 'back', label: 'back after ms', digits: 0 },
    ],
    rows,
    notes,
    details: { trials },
  };
}
