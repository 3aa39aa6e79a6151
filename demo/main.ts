/**
 * `npm start`: a small config service in several processes, kept coherent by
 * coherent-cache. The primary holds the (slow) config store and runs a load
 * generator and a coherence checker against N workers, each serving HTTP on
 * its own loopback port with a cache in front of the store. Invalidations go
 * through node:cluster IPC (relayed by this primary) or, with REDIS_URL set,
 * through Redis pub/sub.
 *
 *   node --import tsx demo/main.ts [--duration 20] [--workers 3] [--rate 2000] [--keys 50]
 *                                  [--writes 10] [--chaos none|worker|redis] [--bound ms] [--json]
 *
 * Exit code: 0 when the checker saw no read staler than the bound and every
 * worker behaved; 1 otherwise; 2 on a usage error. Ctrl-C stops the run early
 * (a second Ctrl-C kills the workers at once).
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { installClusterRelay } from '../src/transports/cluster.ts';
import { DEGRADED_TTL_MS, parseOptions, USAGE, UsageError, type DemoOptions } from './args.ts';
import { CoherenceChecker, type CheckerVerdict } from './checker.ts';
import { httpRequest } from './http-client.ts';
import { DEMO_TAG, isWorkerMessage } from './ipc.ts';
import { LoadGenerator, zeroCounts, type TargetCounts } from './loadgen.ts';
import { int, lagSummary, metricNames, ms, pct, sampleSum, table, type LagSummary } from './report.ts';
import { ConfigStore, serveStore } from './store.ts';
import type { WorkerStatsBody } from './worker.ts';

const WORKER_FILE = fileURLToPath(new URL('./worker.ts', import.meta.url));
// Resolved here so the workers find tsx whatever their cwd.
const TSX = import.meta.resolve('tsx');
const START_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;

type SlotState = 'starting' | 'serving' | 'killed' | 'stopping' | 'exited';

interface Slot {
  readonly id: number;
  readonly worker: Worker;
  readonly pid: number;
  readonly replacement: boolean;
  state: SlotState;
  port: number | undefined;
  transport: string | undefined;
  lastStats: WorkerStatsBody | undefined;
  exit: { code: number | null; signal: string | null } | undefined;
  failedToStart: boolean;
  /** Settles once the worker serves (true) or failed / exited before it did (false). */
  readonly ready: Promise<boolean>;
  readonly exited: Promise<void>;
}

interface ChaosEvent {
  readonly atS: number;
  readonly what: string;
}

/** The one JSON line `--json` prints. */
export interface DemoSummary {
  readonly ok: boolean;
  readonly failures: readonly string[];
  readonly interrupted: boolean;
  readonly mode: 'cluster-ipc' | 'redis';
  readonly chaos: DemoOptions['chaos'];
  /** Seconds the load ran. */
  readonly durationS: number;
  readonly workers: number;
  readonly reads: { readonly ok: number; readonly hits: number; readonly misses: number; readonly joined: number; readonly errors: number; readonly shed: number };
  readonly hitRatio: number | null;
  readonly writes: { readonly acked: number; readonly failed: number };
  readonly store: { readonly reads: number; readonly writes: number };
  readonly invalidations: { readonly local: number; readonly remote: number };
  readonly resyncs: number;
  readonly degradations: number;
  readonly lagMs: LagSummary;
  readonly checker: CheckerVerdict;
  readonly metrics: {
    readonly scrapedWorkers: readonly number[];
    /** Metric families (`# TYPE` lines) of the first scraped worker's /metrics. */
    readonly names: readonly string[];
    /** Per scraped worker: coherent_cache_requests_total{result="hit"} against the hits the load generator saw. */
    readonly hits: readonly { readonly worker: number; readonly metric: number; readonly observed: number }[];
  };
  readonly chaosEvents: readonly ChaosEvent[];
  readonly perWorker: readonly WorkerRow[];
}

interface WorkerRow {
  readonly worker: number;
  readonly pid: number;
  readonly port: number | null;
  readonly state: string;
  readonly counts: TargetCounts;
  readonly loads: number;
  readonly invalidations: { readonly local: number; readonly remote: number };
  readonly resyncs: number;
  readonly degradations: number;
  readonly lagMs: LagSummary;
}

async function run(options: DemoOptions): Promise<number> {
  const human = options.json ? process.stderr : process.stdout;
  const say = (line: string): void => void human.write(`${line}\n`);
  const startedAt = performance.now();
  // Seconds since the load started (since the start, before it did).
  let loadStartedAt = startedAt;
  const elapsedS = (): number => Math.round(performance.now() - loadStartedAt) / 1000;

  const ids = Array.from({ length: options.keys }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
  const store = new ConfigStore(ids);
  const checker = new CoherenceChecker(options.bound);
  const loadgen = new LoadGenerator({ ids, rate: options.rate, writes: options.writes, maxInFlight: 256 }, checker);
  const mode = options.redisUrl === undefined ? 'cluster-ipc' : 'redis';
  const failures: string[] = [];
  const chaosEvents: ChaosEvent[] = [];
  const slots = new Map<number, Slot>();
  let shuttingDown = false;

  // The cluster transport's relay lives in the primary: it forwards each worker's messages to the others.
  const uninstallRelay = mode === 'cluster-ipc' ? installClusterRelay() : undefined;
  cluster.setupPrimary({ exec: WORKER_FILE, execArgv: ['--import', TSX], args: [] });

  // Ctrl-C: the first stops the run (the summary is still printed), the second kills everything now.
  const end = Promise.withResolvers<'duration' | 'interrupted'>();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      say('\nstopping (Ctrl-C again to kill the workers at once)…');
      end.resolve('interrupted');
      return;
    }
    for (const slot of slots.values()) if (slot.exit === undefined) slot.worker.process.kill('SIGKILL');
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  /** `port`: where the worker serves (0: a free port). A replacement takes its victim's, so a scraper's targets stay valid. */
  function spawn(replacement: boolean, port: number): Slot {
    const worker = cluster.fork({ DEMO_HOST: options.host, DEMO_PORT: String(port) });
    const ready = Promise.withResolvers<boolean>();
    const exited = Promise.withResolvers<void>();
    const slot: Slot = {
      id: worker.id,
      worker,
      pid: worker.process.pid ?? -1,
      replacement,
      state: 'starting',
      port: undefined,
      transport: undefined,
      lastStats: undefined,
      exit: undefined,
      failedToStart: false,
      ready: ready.promise,
      exited: exited.promise,
    };
    slots.set(slot.id, slot);
    const stopServing = serveStore(store, worker);
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.kind === 'ready') {
        slot.port = message.port;
        slot.transport = message.transport;
        if (slot.state === 'starting') slot.state = 'serving';
        ready.resolve(true);
      } else if (message.kind === 'failed') {
        failures.push(`worker ${slot.id} could not start: ${message.error}`);
        slot.failedToStart = true;
        ready.resolve(false);
      }
    });
    worker.on('exit', (code, signal) => {
      stopServing();
      slot.exit = { code, signal };
      loadgen.removeTarget(slot.id);
      // Ctrl-C reaches the whole process group: a worker still loading has no SIGINT handler yet and dies of it.
      const expected = slot.state === 'killed' || slot.state === 'stopping' || (interrupts > 0 && signal === 'SIGINT');
      if (!expected) failures.push(`worker ${slot.id} (pid ${slot.pid}) exited unexpectedly (code ${String(code)}, signal ${String(signal)})`);
      if (slot.state !== 'killed') slot.state = 'exited';
      ready.resolve(false);
      exited.resolve();
    });
    return slot;
  }

  const pollStats = async (slot: Slot): Promise<void> => {
    if (slot.state !== 'serving' || slot.port === undefined) return;
    try {
      const reply = await httpRequest({ port: slot.port, method: 'GET', path: '/stats', timeoutMs: 1_000 });
      if (reply.status === 200) slot.lastStats = JSON.parse(reply.body) as WorkerStatsBody;
    } catch {
      // A worker being killed does not answer; its last stats stay.
    }
  };

  let progressTimer: NodeJS.Timeout | undefined;
  let durationTimer: NodeJS.Timeout | undefined;
  let chaosTimer: NodeJS.Timeout | undefined;
  let chaosDone: Promise<void> = Promise.resolve();
  const tty = human.isTTY;
  let progressShown = false;

  try {
    say(
      `coherent-cache demo: ${options.workers} workers, ${mode === 'redis' ? `Redis pub/sub (${options.redisUrl ?? ''})` : 'node:cluster IPC'}, ` +
        `${int(options.rate)} reads/s + ${options.writes} writes/s over ${options.keys} keys for ${options.duration} s, ` +
        `chaos ${options.chaos}, staleness bound ${options.bound} ms (degradedTtl ${DEGRADED_TTL_MS} ms)`,
    );
    const first = Array.from({ length: options.workers }, (_, i) => spawn(false, options.port === 0 ? 0 : options.port + i));
    const started = await Promise.race([
      Promise.all(first.map((slot) => slot.ready)),
      delay(START_TIMEOUT_MS).then(() => 'timeout' as const),
      end.promise.then(() => 'interrupted' as const),
    ]);
    if (started === 'timeout') failures.push(`workers did not all start within ${START_TIMEOUT_MS / 1000} s`);
    else if (started !== 'interrupted' && started.some((ok) => !ok)) failures.push('a worker failed to start');

    const starts = failures.length === 0 && started !== 'interrupted';
    if (starts) {
      for (const slot of first) say(`  worker ${slot.id}  pid ${slot.pid}  http://127.0.0.1:${slot.port ?? '?'}  (${slot.transport ?? '?'})`);
      for (const slot of first) loadgen.addTarget({ worker: slot.id, port: slot.port as number });
      loadgen.start();
      loadStartedAt = performance.now();
      durationTimer = setTimeout(() => end.resolve('duration'), options.duration * 1000);

      let lastReads = 0;
      let polling = false;
      progressTimer = setInterval(() => {
        if (polling) return;
        polling = true;
        void Promise.all([...slots.values()].map(pollStats)).then(() => {
          polling = false;
          if (shuttingDown) return;
          const totals = loadgen.totals();
          const line = progressLine((performance.now() - loadStartedAt) / 1000, totals, totals.reads - lastReads, [...slots.values()], checker.verdict(), loadgen.shed);
          lastReads = totals.reads;
          if (tty) human.write(`\r\x1b[2K${line}`);
          else say(line);
          progressShown = true;
        });
      }, 1_000);

      if (options.chaos !== 'none') {
        chaosTimer = setTimeout(() => {
          chaosDone = (options.chaos === 'worker' ? killOneWorker() : killPubSub()).catch((error: unknown) => {
            failures.push(`chaos ${options.chaos} failed: ${error instanceof Error ? error.message : String(error)}`);
          });
        }, (options.duration * 1000) / 2);
      }
    }

    // Without a start there is nothing to wait for (on an interrupt, end is already settled).
    const how = starts || started === 'interrupted' ? await end.promise : 'duration';
    const loadS = loadgen.running ? elapsedS() : 0;
    shuttingDown = true;
    clearTimeout(durationTimer);
    clearTimeout(chaosTimer);
    clearInterval(progressTimer);
    if (tty && progressShown) human.write('\n');
    await chaosDone;
    await loadgen.stop();

    // Before stopping the workers: their last stats and their /metrics.
    await Promise.all([...slots.values()].map(pollStats));
    const metrics = await scrapeMetrics([...slots.values()].filter((slot) => slot.state === 'serving'), loadgen);

    await stopWorkers();
    uninstallRelay?.();
    loadgen.close();

    const summary = summarize(how === 'interrupted', loadS);
    if (!summary.checker.ok) summary.failures.push(`${summary.checker.violations} read(s) staler than ${options.bound} ms`);
    for (const h of metrics.hits) {
      if (h.metric !== h.observed) summary.failures.push(`worker ${h.worker}: /metrics counts ${h.metric} hits, the load generator saw ${h.observed}`);
    }
    const final: DemoSummary = { ...summary, metrics, ok: summary.failures.length === 0 };
    printSummary(final, say);
    if (options.json) process.stdout.write(`${JSON.stringify(final)}\n`);
    return final.ok ? 0 : 1;
  } finally {
    clearTimeout(durationTimer);
    clearTimeout(chaosTimer);
    clearInterval(progressTimer);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    // Whatever went wrong above, no worker outlives the primary.
    for (const slot of slots.values()) if (slot.exit === undefined) slot.worker.process.kill('SIGKILL');
    uninstallRelay?.();
    loadgen.close();
  }

  async function killOneWorker(): Promise<void> {
    const victim = [...slots.values()].find((slot) => slot.state === 'serving');
    if (victim === undefined) return;
    // Stop routing to it first; requests already in flight to it fail (and count as errors).
    loadgen.removeTarget(victim.id);
    victim.state = 'killed';
    victim.worker.process.kill('SIGKILL');
    chaosEvents.push({ atS: elapsedS(), what: `killed worker ${victim.id} (pid ${victim.pid}) with SIGKILL` });
    say(`${tty ? '\r\x1b[2K' : ''}chaos: killed worker ${victim.id} (pid ${victim.pid}); forking a replacement`);
    await victim.exited;
    const replacement = spawn(true, options.port === 0 ? 0 : (victim.port ?? 0));
    if (!(await replacement.ready)) return;
    if (shuttingDown) return;
    loadgen.addTarget({ worker: replacement.id, port: replacement.port as number });
    chaosEvents.push({ atS: elapsedS(), what: `replacement worker ${replacement.id} (pid ${replacement.pid}) serving on :${replacement.port ?? '?'}` });
    say(`${tty ? '\r\x1b[2K' : ''}chaos: replacement worker ${replacement.id} serving on :${replacement.port ?? '?'}`);
  }

  async function killPubSub(): Promise<void> {
    const admin = new Redis(options.redisUrl as string, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
      const killed = await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      chaosEvents.push({ atS: elapsedS(), what: `CLIENT KILL TYPE pubsub closed ${String(killed)} subscriber connection(s)` });
      say(`${tty ? '\r\x1b[2K' : ''}chaos: CLIENT KILL TYPE pubsub closed ${String(killed)} subscriber connection(s)`);
    } finally {
      await admin.quit().catch(() => admin.disconnect());
    }
  }

  /** Asks every worker to stop and waits for each to exit by itself; one that does not is killed and reported. */
  async function stopWorkers(): Promise<void> {
    await Promise.all(
      [...slots.values()].map(async (slot) => {
        if (slot.exit !== undefined) return;
        // A worker still starting cannot hear the request yet: wait until it serves (or gives up).
        if (slot.state === 'starting') await Promise.race([slot.ready, delay(START_TIMEOUT_MS)]);
        if (slot.exit !== undefined) return;
        if (slot.state !== 'killed') slot.state = 'stopping';
        if (slot.worker.isConnected()) slot.worker.send({ tag: DEMO_TAG, kind: 'shutdown' }, undefined, () => undefined);
        const exited = await Promise.race([slot.exited.then(() => true), delay(EXIT_TIMEOUT_MS).then(() => false)]);
        if (!exited) {
          failures.push(`worker ${slot.id} (pid ${slot.pid}) did not exit within ${EXIT_TIMEOUT_MS / 1000} s of its shutdown; killed`);
          slot.worker.process.kill('SIGKILL');
          await slot.exited;
        }
      }),
    );
  }

  function summarize(interrupted: boolean, loadS: number): Omit<DemoSummary, 'metrics' | 'ok'> & { failures: string[] } {
    const rows = [...slots.values()].map((slot): WorkerRow => {
      const stats = slot.lastStats?.stats;
      return {
        worker: slot.id,
        pid: slot.pid,
        port: slot.port ?? null,
        state: slot.failedToStart
          ? 'failed to start'
          : slot.state === 'killed'
            ? 'killed (chaos)'
            : slot.exit?.code !== 0
              ? `exited (${slot.exit?.signal ?? `code ${String(slot.exit?.code)}`})`
              : slot.replacement
                ? 'replacement'
                : 'ok',
        counts: loadgen.counts.get(slot.id) ?? zeroCounts(),
        loads: stats?.loads.ok ?? 0,
        invalidations: {
          local: (stats?.invalidations.local.key ?? 0) + (stats?.invalidations.local.all ?? 0),
          remote: (stats?.invalidations.remote.key ?? 0) + (stats?.invalidations.remote.all ?? 0),
        },
        resyncs: stats?.resyncs ?? 0,
        degradations: stats?.degradations ?? 0,
        lagMs: lagSummary(slot.lastStats?.lag.recentMs ?? []),
      };
    });
    const totals = loadgen.totals();
    const answered = totals.hits + totals.misses + totals.joined;
    return {
      failures,
      interrupted,
      mode,
      chaos: options.chaos,
      durationS: Number(loadS.toFixed(2)),
      workers: options.workers,
      reads: { ok: totals.reads, hits: totals.hits, misses: totals.misses, joined: totals.joined, errors: totals.readErrors, shed: loadgen.shed },
      hitRatio: answered === 0 ? null : totals.hits / answered,
      writes: { acked: totals.writes, failed: totals.writeErrors },
      store: { reads: store.reads, writes: store.writes },
      invalidations: { local: sum(rows, (row) => row.invalidations.local), remote: sum(rows, (row) => row.invalidations.remote) },
      resyncs: sum(rows, (row) => row.resyncs),
      degradations: sum(rows, (row) => row.degradations),
      lagMs: lagSummary([...slots.values()].flatMap((slot) => slot.lastStats?.lag.recentMs ?? [])),
      checker: checker.verdict(),
      chaosEvents,
      perWorker: rows,
    };
  }
}

async function scrapeMetrics(serving: readonly Slot[], loadgen: LoadGenerator): Promise<DemoSummary['metrics']> {
  const scraped: { worker: number; text: string }[] = [];
  for (const slot of serving) {
    try {
      const reply = await httpRequest({ port: slot.port as number, method: 'GET', path: '/metrics', timeoutMs: 2_000 });
      if (reply.status === 200) scraped.push({ worker: slot.id, text: reply.body });
    } catch {
      // Reported as a worker missing from scrapedWorkers.
    }
  }
  return {
    scrapedWorkers: scraped.map((s) => s.worker),
    names: scraped[0] === undefined ? [] : metricNames(scraped[0].text),
    hits: scraped.map((s) => ({
      worker: s.worker,
      metric: sampleSum(s.text, 'coherent_cache_requests_total', { result: 'hit' }),
      observed: loadgen.counts.get(s.worker)?.hits ?? 0,
    })),
  };
}

function progressLine(t: number, totals: TargetCounts, readsThisSecond: number, slots: readonly Slot[], verdict: CheckerVerdict, shed: number): string {
  const answered = totals.hits + totals.misses + totals.joined;
  let local = 0;
  let remote = 0;
  const lags: number[] = [];
  for (const slot of slots) {
    const stats = slot.lastStats?.stats;
    if (stats !== undefined) {
      local += stats.invalidations.local.key + stats.invalidations.local.all;
      remote += stats.invalidations.remote.key + stats.invalidations.remote.all;
    }
    lags.push(...(slot.lastStats?.lag.recentMs ?? []));
  }
  const serving = slots.filter((slot) => slot.state === 'serving').length;
  const errors = totals.readErrors + totals.writeErrors;
  return [
    `${t.toFixed(0).padStart(3)}s`,
    `reads ${int(totals.reads)} (${int(readsThisSecond)}/s)`,
    `hit ${pct(answered === 0 ? null : totals.hits / answered)}`,
    `writes ${int(totals.writes)}`,
    `inval local ${int(local)} remote ${int(remote)}`,
    `lag p99 ${ms(lagSummary(lags).p99)}`,
    `stale ${int(verdict.staleReads)} worst ${ms(verdict.worstStalenessMs)}`,
    `workers ${serving}`,
    ...(errors > 0 ? [`errors ${int(errors)}`] : []),
    ...(shed > 0 ? [`shed ${int(shed)}`] : []),
  ].join(' │ ');
}

function printSummary(summary: DemoSummary, say: (line: string) => void): void {
  const header = ['worker', 'pid', 'port', 'state', 'reads', 'hit%', 'joined', 'errors', 'writes', 'loads', 'inval local', 'inval remote', 'resyncs', 'lag p50', 'lag p99', 'lag max'];
  const rows = summary.perWorker.map((row) => {
    const answered = row.counts.hits + row.counts.misses + row.counts.joined;
    return [
      String(row.worker),
      String(row.pid),
      row.port === null ? '-' : String(row.port),
      row.state,
      int(row.counts.reads),
      pct(answered === 0 ? null : row.counts.hits / answered),
      int(row.counts.joined),
      int(row.counts.readErrors + row.counts.writeErrors),
      int(row.counts.writes),
      int(row.loads),
      int(row.invalidations.local),
      int(row.invalidations.remote),
      int(row.resyncs),
      ms(row.lagMs.p50),
      ms(row.lagMs.p99),
      ms(row.lagMs.max),
    ];
  });
  const total = [
    'total',
    '',
    '',
    '',
    int(summary.reads.ok),
    pct(summary.hitRatio),
    int(summary.reads.joined),
    int(summary.reads.errors + summary.writes.failed),
    int(summary.writes.acked),
    int(sum(summary.perWorker, (row) => row.loads)),
    int(summary.invalidations.local),
    int(summary.invalidations.remote),
    int(summary.resyncs),
    ms(summary.lagMs.p50),
    ms(summary.lagMs.p99),
    ms(summary.lagMs.max),
  ];
  say('');
  say(table([header, ...rows, total]));
  say('');
  const c = summary.checker;
  say(
    `store: ${int(summary.store.reads)} reads, ${int(summary.store.writes)} writes   ` +
      `reads shed by the generator: ${int(summary.reads.shed)}   link degradations: ${int(summary.degradations)}`,
  );
  for (const event of summary.chaosEvents) say(`chaos at ${event.atS.toFixed(1)} s: ${event.what}`);
  const hitsAgree = summary.metrics.hits.every((h) => h.metric === h.observed);
  if (summary.metrics.scrapedWorkers.length === 0) say('/metrics: not scraped (no worker was serving at the end)');
  else
    say(
      `/metrics: ${summary.metrics.names.length} metric families from worker ${summary.metrics.scrapedWorkers[0] ?? '-'}; ` +
        `coherent_cache_requests_total{result="hit"} ${hitsAgree ? 'matches' : 'DOES NOT match'} the hits the load generator saw ` +
        `(${summary.metrics.hits.map((h) => `w${h.worker} ${int(h.metric)}/${int(h.observed)}`).join(', ')})`,
    );
  say(
    `checker: ${int(c.writesAcked)} acknowledged writes, ${int(c.readsChecked)} reads started after one of them, ` +
      `${int(c.staleReads)} served an older version, worst staleness ${ms(c.worstStalenessMs)} (bound ${c.boundMs} ms)` +
      (c.worst === undefined ? '' : ` — ${c.worst.key} on worker ${c.worst.worker}: served v${c.worst.served}, v${c.worst.expected} acknowledged ${ms(c.worst.stalenessMs)} before the read`),
  );
  for (const failure of summary.failures) say(`FAIL: ${failure}`);
  say(summary.ok ? `PASS${summary.interrupted ? ' (interrupted)' : ''}` : 'FAIL');
}

function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += pick(item);
  return total;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

if (!cluster.isPrimary) throw new Error('demo/main.ts is the primary; workers run demo/worker.ts');

let parsed: DemoOptions | 'help';
try {
  parsed = parseOptions(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`${error.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (parsed === 'help') {
  process.stdout.write(`${USAGE}\n`);
} else {
  process.exitCode = await run(parsed);
  // Everything was closed: the process now exits by itself. If something still holds it, say what (this timer does not).
  setTimeout(() => {
    process.stderr.write(`demo: still running 3 s after the end, held by ${process.getActiveResourcesInfo().join(', ')}; exiting\n`);
    process.exit(process.exitCode === 0 ? 3 : process.exitCode);
  }, 3_000).unref();
}
