/**
 * Why a run failed, cause before symptom: a worker (or the load generator)
 * that froze first, then read errors and reads shed beyond the error budget
 * with their commonest reasons, then stale reads past the bound, faults that
 * were not all injected, and /metrics that disagree with what the clients saw.
 * Each failure is one line that says what happened, not only how much.
 */
import type { DemoOptions } from './args.ts';
import { describeStale } from './final-report.ts';
import { int } from './format.ts';
import { FREEZE_MS, type Freeze } from './freeze-watch.ts';
import { MAX_READS_IN_FLIGHT, type LoadSnapshot, type TargetCounts } from './loadgen.ts';
import type { ScrapedMetrics } from './scrape.ts';
import type { Verification } from './summary.ts';

export interface VerdictInput {
  readonly options: Pick<DemoOptions, 'bound' | 'chaos' | 'faults' | 'errorBudget' | 'lose'>;
  readonly load: LoadSnapshot;
  readonly totals: TargetCounts;
  readonly metrics: ScrapedMetrics;
  readonly faultsInjected: number;
  readonly interrupted: boolean;
  /** With --verify: what verification found (absent or null without it). */
  readonly verification?: Verification | null;
}

/** The failures the run's numbers show (the supervisor's and the chaos's own come on top). */
export function judge(input: VerdictInput): string[] {
  const { options, load, totals, metrics } = input;
  const failures: string[] = [];
  const primaryFrozen = load.freezes.filter((f) => f.who === 'primary');
  // In the order they began, a frozen primary before what froze with it.
  const freezes = [...load.freezes].sort((a, b) => a.since - b.since || Number(b.who === 'primary') - Number(a.who === 'primary'));
  for (const freeze of freezes) failures.push(describeFreeze(freeze, primaryFrozen));
  const budget = (options.errorBudget / 100) * load.readsDue;
  const share = (n: number): string => `${((100 * n) / Math.max(1, load.readsDue)).toFixed(2)} % of the ${int(load.readsDue)} reads due, budget ${options.errorBudget} %`;
  if (totals.readErrors > budget) {
    const reasons = load.errors.filter((e) => e.reason.startsWith('reads ')).slice(0, 3);
    const why = primaryFrozen.length > 0 ? ' (the config store lives in the frozen primary)' : '';
    failures.push(`${int(totals.readErrors)} read errors${why} (${share(totals.readErrors)}): ${reasons.map((e) => `${int(e.count)} × ${e.reason}`).join('; ')}${overloaded(load)}`);
  }
  if (load.shed > budget) {
    failures.push(`${int(load.shed)} reads shed by the load generator (${share(load.shed)}): that many reads came due while ${MAX_READS_IN_FLIGHT} were already pending${load.freezes.length > 0 ? ' (see the freeze above)' : overloaded(load) || ', i.e. the workers answered too slowly'}`);
  }
  const verdict = load.verdict;
  // Writes acknowledged by every worker (ack: 'all'): no read that starts after one may serve the older version, at any bound.
  if (options.lose === 0 && verdict.staleReads > 0) {
    failures.push(`${int(verdict.staleReads)} read(s) served an older version after a write every worker had acknowledged (ack: 'all' allows none)`);
  }
  const verification = input.verification ?? null;
  if (verification !== null && !verification.agree) {
    failures.push(`verification found ${int(verification.violations)} violation(s) on ${describePairs(verification.pairs)}, the checker stale reads on ${describePairs(verdict.stalePairs)}: they disagree`);
  }
  if (options.lose > 0 && verdict.staleReads === 0) failures.push(`--lose ${options.lose} skipped invalidations, but no read served an older version: nothing to find`);
  // A planted loss breaks the bound on purpose: what is judged then is whether verification found it.
  if (options.lose === 0 && verdict.violations > 0) {
    const worst = verdict.worst;
    failures.push(
      `${int(verdict.violations)} read(s) staler than ${options.bound} ms past an acknowledged write` +
        (worst === undefined ? '' : ` (worst: ${describeStale(worst)})`),
    );
  }
  if (options.chaos !== 'none' && !input.interrupted && input.faultsInjected < options.faults) {
    failures.push(`only ${input.faultsInjected} of the ${options.faults} fault(s) were injected`);
  }
  for (const h of metrics.hits) {
    if (h.metric !== h.observed) failures.push(`worker ${h.worker}: /metrics counts ${h.metric} hits, the load generator saw ${h.observed}`);
  }
  return failures;
}

function describePairs(pairs: readonly string[]): string {
  if (pairs.length === 0) return 'no worker and key';
  return `${pairs.length} worker/key pair(s) (${pairs.slice(0, 5).join(', ')}${pairs.length > 5 ? ', …' : ''})`;
}

/** A busy machine makes every process slow: said when the load average passed the cores, or the load generator's own timer ran late. */
export function overloaded(load: LoadSnapshot): string {
  const { maxLoadAverage, cores, maxTimerLateMs } = load.machine;
  if (maxLoadAverage <= cores && maxTimerLateMs < 100) return '';
  return ` — the machine was overloaded meanwhile (load average up to ${maxLoadAverage.toFixed(1)} on ${cores} cores, the load generator's own 5 ms timer up to ${int(maxTimerLateMs)} ms late)`;
}

/** A freeze, said as its cause: a worker that answered nothing while the primary was frozen was waiting for the store there. */
function describeFreeze(freeze: Freeze, primaryFrozen: readonly Freeze[]): string {
  const when = `no progress for ${(freeze.forMs / 1000).toFixed(1)} s from ${(freeze.since / 1000).toFixed(1)} s into the load`;
  const pending = freeze.pending > 0 ? `, ${int(freeze.pending)} request(s) pending` : '';
  if (freeze.who === 'primary') return `the primary (the cluster relay and the config store) froze: ${when}`;
  if (freeze.who === 'load generator') return `the load generator itself was held up: ${when}`;
  const during = primaryFrozen.some((p) => freeze.since >= p.since - FREEZE_MS && freeze.since <= p.since + p.forMs);
  return during ? `${freeze.who} answered nothing while the primary was frozen (its reads wait for the config store there): ${when}${pending}` : `${freeze.who} froze: ${when}${pending}`;
}
