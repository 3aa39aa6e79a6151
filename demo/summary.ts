/**
 * What a run found, as the DemoSummary that `--json` prints and the final
 * report renders: the load generator's counts, the store's, every worker's last
 * stats, the checker's verdict, the /metrics check and the chaos timeline. It
 * is also where the run is judged: `ok` only without any failure.
 */
import type { DemoOptions } from './args.ts';
import type { ChaosEvent } from './chaos.ts';
import type { CheckerVerdict, CoherenceChecker } from './checker.ts';
import { hitRatio, lagSummary, sum, type LagSummary } from './format.ts';
import { zeroCounts, type LoadGenerator, type TargetCounts } from './loadgen.ts';
import type { ScrapedMetrics } from './scrape.ts';
import type { ConfigStore } from './store.ts';
import type { Slot } from './supervisor.ts';

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
  readonly metrics: ScrapedMetrics;
  readonly chaosEvents: readonly ChaosEvent[];
  readonly perWorker: readonly WorkerRow[];
}

export interface WorkerRow {
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

/** Everything a run leaves behind to be summarized. */
export interface RunRecord {
  readonly options: DemoOptions;
  readonly mode: DemoSummary['mode'];
  readonly slots: readonly Slot[];
  readonly loadgen: LoadGenerator;
  readonly store: ConfigStore;
  readonly checker: CoherenceChecker;
  readonly chaosEvents: readonly ChaosEvent[];
  /** The run's failure list; the verdict adds its own to it. */
  readonly failures: string[];
  readonly interrupted: boolean;
  /** Seconds the load ran. */
  readonly loadS: number;
  readonly metrics: ScrapedMetrics;
}

export function summarize(run: RunRecord): DemoSummary {
  const { options, loadgen, checker, failures } = run;
  const rows = run.slots.map((slot) => workerRow(slot, loadgen));
  const totals = loadgen.totals();
  const verdict = checker.verdict();
  if (!verdict.ok) failures.push(`${verdict.violations} read(s) staler than ${options.bound} ms`);
  for (const h of run.metrics.hits) {
    if (h.metric !== h.observed) failures.push(`worker ${h.worker}: /metrics counts ${h.metric} hits, the load generator saw ${h.observed}`);
  }
  return {
    failures,
    interrupted: run.interrupted,
    mode: run.mode,
    chaos: options.chaos,
    durationS: Number(run.loadS.toFixed(2)),
    workers: options.workers,
    reads: { ok: totals.reads, hits: totals.hits, misses: totals.misses, joined: totals.joined, errors: totals.readErrors, shed: loadgen.shed },
    hitRatio: hitRatio(totals),
    writes: { acked: totals.writes, failed: totals.writeErrors },
    store: { reads: run.store.reads, writes: run.store.writes },
    invalidations: { local: sum(rows, (row) => row.invalidations.local), remote: sum(rows, (row) => row.invalidations.remote) },
    resyncs: sum(rows, (row) => row.resyncs),
    degradations: sum(rows, (row) => row.degradations),
    lagMs: lagSummary(lagSamples(run.slots)),
    checker: verdict,
    chaosEvents: run.chaosEvents,
    perWorker: rows,
    metrics: run.metrics,
    ok: failures.length === 0,
  };
}

/** Invalidations a worker counted by its last /stats: its own (local) and received (remote), keys and clears together. */
export function invalidationCounts(slot: Slot): { local: number; remote: number } {
  const stats = slot.lastStats?.stats;
  return {
    local: (stats?.invalidated.local.key ?? 0) + (stats?.invalidated.local.all ?? 0),
    remote: (stats?.invalidated.remote.key ?? 0) + (stats?.invalidated.remote.all ?? 0),
  };
}

/** Every worker's recent propagation-lag samples (ms), by their last /stats. */
export function lagSamples(slots: readonly Slot[]): number[] {
  return slots.flatMap((slot) => slot.lastStats?.lag.recentMs ?? []);
}

function workerRow(slot: Slot, loadgen: LoadGenerator): WorkerRow {
  const stats = slot.lastStats?.stats;
  return {
    worker: slot.id,
    pid: slot.pid,
    port: slot.port ?? null,
    state: workerState(slot),
    counts: loadgen.counts.get(slot.id) ?? zeroCounts(),
    loads: stats?.loads.ok ?? 0,
    invalidations: invalidationCounts(slot),
    resyncs: stats?.resyncs ?? 0,
    degradations: stats?.degradations ?? 0,
    lagMs: lagSummary(lagSamples([slot])),
  };
}

function workerState(slot: Slot): string {
  if (slot.failedToStart) return 'failed to start';
  if (slot.state === 'killed') return 'killed (chaos)';
  if (slot.exit?.code !== 0) return `exited (${slot.exit?.signal ?? `code ${String(slot.exit?.code)}`})`;
  return slot.replacement ? 'replacement' : 'ok';
}
