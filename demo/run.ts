/**
 * One run of the demo, start to verdict: builds the store, checker, load
 * generator and supervisor, starts the workers, runs the load for --duration
 * (with progress and chaos alongside) or until Ctrl-C, then shuts everything
 * down in order and prints the summary. Resolves to the exit code.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { installClusterRelay } from '../src/index.ts';
import type { DemoOptions } from './args.ts';
import { Chaos } from './chaos.ts';
import { errorMessage } from './error-message.ts';
import { printSummary } from './final-report.ts';
import { int } from './format.ts';
import { LoadThread } from './load-thread.ts';
import { MAX_READS_IN_FLIGHT } from './loadgen.ts';
import { HumanOutput } from './output.ts';
import { ProgressPrinter } from './progress.ts';
import { DemoRedis } from './redis-server.ts';
import { scrapeMetrics } from './scrape.ts';
import { ConfigStore } from './store.ts';
import { summarize } from './summary.ts';
import { Supervisor } from './supervisor.ts';

/** How long the load goes on after the last fault was undone, at least. */
const AFTER_LAST_FAULT_MS = 1_000;

export async function run(given: DemoOptions): Promise<number> {
  const out = new HumanOutput(given.json ? process.stderr : process.stdout);
  let redis: DemoRedis | undefined;
  if (given.ownRedis) {
    try {
      redis = await DemoRedis.start();
    } catch (error) {
      out.say(`FAIL: could not start a redis-server for --chaos ${given.chaos}: ${errorMessage(error)}`);
      return 1;
    }
  }
  try {
    return await runWith({ ...given, redisUrl: given.redisUrl ?? redis?.url }, out, redis);
  } finally {
    await redis?.stop();
  }
}

async function runWith(options: DemoOptions, out: HumanOutput, redis: DemoRedis | undefined): Promise<number> {
  // Seconds since the load started (since the start, before it did).
  let loadStartedAt = performance.now();
  const elapsedS = (): number => Math.round(performance.now() - loadStartedAt) / 1000;

  const ids = Array.from({ length: options.keys }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
  const store = new ConfigStore(ids);
  const failures: string[] = [];
  const loadgen = new LoadThread({ ids, rate: options.rate, writes: options.writes, maxInFlight: MAX_READS_IN_FLIGHT, boundMs: options.bound }, (error) =>
    failures.push(`the load generator failed: ${errorMessage(error)}`),
  );
  const mode = options.redisUrl === undefined ? 'cluster-ipc' : 'redis';

  // The cluster transport's relay lives in the primary: it forwards each worker's messages to the others.
  const uninstallRelay = mode === 'cluster-ipc' ? installClusterRelay({ log: true }) : undefined;
  const supervisor = new Supervisor({ options, store, loadgen, failures });
  const progress = new ProgressPrinter({ out, supervisor, loadgen });
  const target = redis ?? (options.redisUrl === undefined ? undefined : { url: options.redisUrl });
  const chaos = new Chaos({ options, supervisor, loadgen, store, redis: target, out, elapsedS, failures });

  // Ctrl-C: the first stops the run (the summary is still printed), the second kills everything now.
  const end = Promise.withResolvers<'duration' | 'interrupted'>();
  const onSigint = (): void => {
    if (!supervisor.interrupted) {
      supervisor.interrupted = true;
      out.say('\nstopping (Ctrl-C again to kill the workers at once)…');
      end.resolve('interrupted');
      return;
    }
    supervisor.killAll();
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  let durationTimer: NodeJS.Timeout | undefined;
  // Nothing scheduled fires after this: no end of duration, no chaos, no progress line.
  const stopTimers = (): void => {
    clearTimeout(durationTimer);
    chaos.stop();
    progress.stop();
  };
  try {
    out.say(
      `coherent-cache demo: ${options.workers} workers, ${mode === 'redis' ? `Redis pub/sub (${options.redisUrl ?? ''})` : 'node:cluster IPC'}, ` +
        `${int(options.rate)} reads/s + ${options.writes} writes/s over ${options.keys} keys for ${options.duration} s, ` +
        `chaos ${options.chaos}${options.chaos === 'none' ? '' : ` ×${options.faults}`}, staleness bound ${options.bound} ms (degradedTtl ${options.degradedTtl} ms)`,
    );
    const first = await supervisor.start(end.promise);
    const starts = first !== 'interrupted' && failures.length === 0;
    if (starts) {
      for (const slot of first) out.say(`  worker ${slot.id}  pid ${slot.pid}  http://127.0.0.1:${slot.port ?? '?'}  (${slot.transport ?? '?'})`);
      for (const slot of first) loadgen.addTarget({ worker: slot.id, port: slot.port as number });
      loadgen.start();
      loadStartedAt = performance.now();
      // The load runs for --duration, and on until the last fault was undone a while ago.
      durationTimer = setTimeout(() => {
        void chaos.settled().then(async () => {
          if (chaos.injected > 0) await delay(Math.max(0, chaos.lastUndoneAt + AFTER_LAST_FAULT_MS - performance.now()));
          end.resolve('duration');
        });
      }, options.duration * 1000);
      progress.start(loadStartedAt);
      chaos.schedule();
    }

    // Without a start there is nothing to wait for (on an interrupt, end is already settled).
    const how = starts || first === 'interrupted' ? await end.promise : 'duration';
    const loadS = loadgen.running ? elapsedS() : 0;
    stopTimers();
    out.endProgress();
    await chaos.settled();
    await loadgen.stop();

    // A verification waits up to degradedTtl for an invalidation that would explain a difference: let the last ones end.
    if (options.verify > 0) await delay(options.degradedTtl + 250);
    // Before stopping the workers: their last stats and their /metrics.
    await supervisor.pollStats();
    const metrics = await scrapeMetrics(supervisor.all().filter((slot) => slot.state === 'serving'), loadgen);

    await supervisor.stopAll();
    uninstallRelay?.();
    loadgen.close();

    const summary = summarize({
      options,
      mode,
      slots: supervisor.all(),
      loadgen,
      store,
      chaosEvents: chaos.events,
      faultsInjected: chaos.injected,
      failures,
      interrupted: how === 'interrupted',
      loadS,
      metrics,
    });
    printSummary(summary, out.say);
    if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    return summary.ok ? 0 : 1;
  } finally {
    stopTimers();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    // Whatever went wrong above, no worker outlives the primary.
    supervisor.killAll();
    uninstallRelay?.();
    loadgen.close();
  }
}
