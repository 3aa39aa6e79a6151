/**
 * What a run found, as the DemoSummary that `--json` prints and the final
 * report renders: the load generator's counts, the store's, every worker's last
 * stats, the checker's verdict, the /metrics check and the chaos timeline. It
 * is also where the run is judged (verdict.ts): `ok` only without any failure.
 */
import type { DemoOptions } from './args.ts';
import type { ChaosEvent } from './chaos.ts';
import type { CheckerVerdict } from './checker.ts';
import type { ErrorReason } from './error-tally.ts';
import { hitRatio, lagSummary, sum, type LagSummary } from './format.ts';
import type { Freeze } from './freeze-watch.ts';
import type { LoadThread } from './load-thread.ts';
import { zeroCounts, type LoadSnapshot, type TargetCounts } from './loadgen.ts';
import type { ScrapedMetrics } from './scrape.ts';
import type { ConfigStore } from './store.ts';
import type { Slot } from './supervisor.ts';
import { judge } from './verdict.ts';

/** The one JSON line `--json` prints. */
export interface DemoSummary {
  readonly ok: boolean;
  readonly failures: readonly string[];
  readonly interrupted: boolean;
  readonly mode: 'cluster-ipc' | 'redis';
  readonly chaos: DemoOptions['chaos'];
  /** Faults injected and undone, of `faultsPlanned`. */
  readonly faultsInjected: number;
  readonly faultsPlanned: number;
  readonly degradedTtlMs: number;
  /** Read errors, or reads shed, above this share of the reads due (in %) failed the run. */
  readonly errorBudgetPct: number;
  /** Seconds the load ran. */
  readonly durationS: number;
  readonly workers: number;
  /** `due`: sent or shed. */
  /** `lost`: in flight to a worker when chaos killed it (not in `errors`). */
  readonly reads: { readonly due: number; readonly ok: number; readonly hits: number; readonly misses: number; readonly joined: number; readonly errors: number; readonly lost: number; readonly shed: number };
  readonly hitRatio: number | null;
  /** `unacked`: written, but invalidate() rejected; `failed`: no answer, or an error. */
  readonly writes: { readonly acked: number; readonly unacked: number; readonly failed: number };
  /** Failed requests by reason, commonest first. */
  readonly errorReasons: readonly ErrorReason[];
  readonly freezes: readonly Freeze[];
  readonly machine: LoadSnapshot['machine'];
  readonly store: { readonly reads: number; readonly writes: number };
  readonly invalidations: { readonly local: number; readonly remote: number };
  /** Gap repairs: exact (from the log) or full (everything dropped). */
  readonly resyncs: Resyncs;
  readonly degradations: number;
  readonly lagMs: LagSummary;
  readonly checker: CheckerVerdict;
  /** With --verify: the violations the workers' verification found, beside the checker's stale reads. */
  readonly verification: Verification | null;
  readonly metrics: ScrapedMetrics;
  readonly chaosEvents: readonly ChaosEvent[];
  readonly perWorker: readonly WorkerRow[];
}

export interface Verification {
  readonly sampleRate: number;
  /** `coherence.violation` events over every worker. */
  readonly violations: number;
  /** Where they were found, as `w<worker>:<key>` (the checker's stalePairs form). */
  readonly pairs: readonly string[];
  /** Keys whose write skipped its invalidation on purpose (--lose), on any worker. */
  readonly lostKeys: readonly string[];
  /**
   * Verification and the checker agree: each found stale values or neither
   * did, and every key verification named is one whose invalidation was
   * skipped. (Verification compares with the store, written before the write
   * is acknowledged, while the checker judges reads begun after the
   * acknowledgement: a hit between the two is a violation the checker does
   * not count, so the two are compared by key, against what was lost.)
   */
  readonly agree: boolean;
}

export interface WorkerRow {
  readonly worker: number;
  readonly pid: number;
  readonly port: number | null;
  readonly state: string;
  readonly counts: TargetCounts;
  readonly loads: number;
  readonly invalidations: { readonly local: number; readonly remote: number };
  readonly resyncs: Resyncs;
  readonly degradations: number;
  readonly lagMs: LagSummary;
}

/** Gap repairs by mode, and the entries exact ones kept: loads a full resync would have sent to the store. */
export interface Resyncs {
  readonly exact: number;
  readonly full: number;
  readonly loadsAvoided: number;
}

/** Everything a run leaves behind to be summarized. */
export interface RunRecord {
  readonly options: DemoOptions;
  readonly mode: DemoSummary['mode'];
  readonly slots: readonly Slot[];
  readonly loadgen: LoadThread;
  readonly store: ConfigStore;
  readonly chaosEvents: readonly ChaosEvent[];
  readonly faultsInjected: number;
  /** The run's failure list; the verdict adds its own to it. */
  readonly failures: string[];
  readonly interrupted: boolean;
  /** Seconds the load ran. */
  readonly loadS: number;
  readonly metrics: ScrapedMetrics;
}

export function summarize(run: RunRecord): DemoSummary {
  const { options, loadgen, failures } = run;
  const rows = run.slots.map((slot) => workerRow(slot, loadgen));
  const totals = loadgen.totals();
  const load = loadgen.latest;
  const verification = options.verify > 0 ? verificationOf(run.slots, options.verify, load.verdict) : null;
  // The numbers' own failures come first: a frozen worker explains the supervisor's complaints too.
  failures.unshift(...judge({ options, load, totals, metrics: run.metrics, faultsInjected: run.faultsInjected, interrupted: run.interrupted, verification }));
  return {
    failures,
    interrupted: run.interrupted,
    mode: run.mode,
    chaos: options.chaos,
    faultsInjected: run.faultsInjected,
    faultsPlanned: options.chaos === 'none' ? 0 : options.faults,
    degradedTtlMs: options.degradedTtl,
    errorBudgetPct: options.errorBudget,
    durationS: Number(run.loadS.toFixed(2)),
    workers: options.workers,
    reads: { due: load.readsDue, ok: totals.reads, hits: totals.hits, misses: totals.misses, joined: totals.joined, errors: totals.readErrors, lost: totals.readsLost, shed: load.shed },
    hitRatio: hitRatio(totals),
    writes: { acked: totals.writes, unacked: totals.writesUnacked, failed: totals.writeErrors },
    errorReasons: load.errors,
    freezes: load.freezes,
    machine: load.machine,
    store: { reads: run.store.reads, writes: run.store.writes },
    invalidations: { local: sum(rows, (row) => row.invalidations.local), remote: sum(rows, (row) => row.invalidations.remote) },
    resyncs: { exact: sum(rows, (row) => row.resyncs.exact), full: sum(rows, (row) => row.resyncs.full), loadsAvoided: sum(rows, (row) => row.resyncs.loadsAvoided) },
    degradations: sum(rows, (row) => row.degradations),
    lagMs: lagSummary(lagSamples(run.slots)),
    checker: load.verdict,
    verification,
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

/** What the workers' verification found, by their last /stats, and whether it agrees with the checker. */
function verificationOf(slots: readonly Slot[], sampleRate: number, checker: CheckerVerdict): Verification {
  const pairs = slots.flatMap((slot) => (slot.lastStats?.violations ?? []).map((key) => `w${slot.id}:${key}`)).sort();
  const violations = sum(slots, (slot) => slot.lastStats?.stats.coherenceViolation ?? 0);
  const lostKeys = new Set(slots.flatMap((slot) => slot.lastStats?.lostKeys ?? []));
  const agree = violations > 0 === checker.staleReads > 0 && pairs.every((pair) => lostKeys.has(pair.slice(pair.indexOf(':') + 1)));
  return { sampleRate, violations, pairs: [...new Set(pairs)], lostKeys: [...lostKeys].sort(), agree };
}

/** Every worker's recent propagation-lag samples (ms), by their last /stats. */
export function lagSamples(slots: readonly Slot[]): number[] {
  return slots.flatMap((slot) => slot.lastStats?.lag.recentMs ?? []);
}

function workerRow(slot: Slot, loadgen: LoadThread): WorkerRow {
  const stats = slot.lastStats?.stats;
  return {
    worker: slot.id,
    pid: slot.pid,
    port: slot.port ?? null,
    state: workerState(slot),
    counts: loadgen.counts.get(slot.id) ?? zeroCounts(),
    loads: stats?.loads.ok ?? 0,
    invalidations: invalidationCounts(slot),
    resyncs: { exact: stats?.resynced.exact ?? 0, full: stats?.resynced.full ?? 0, loadsAvoided: stats?.resyncedKept ?? 0 },
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
