/**
 * The human-readable end of a run: the per-worker table with its total row,
 * the store and chaos lines, the /metrics check, the checker's verdict, every
 * failure and PASS or FAIL. It renders a DemoSummary and decides nothing.
 */
import { hitRatio, int, ms, pct, sum, table } from './format.ts';
import type { StaleRead } from './checker.ts';
import type { DemoSummary } from './summary.ts';

export function printSummary(summary: DemoSummary, say: (line: string) => void): void {
  const header = ['worker', 'pid', 'port', 'state', 'reads', 'hit%', 'joined', 'errors', 'writes', 'loads', 'inval local', 'inval remote', 'resyncs exact/full', 'lag p50', 'lag p99', 'lag max'];
  const rows = summary.perWorker.map((row) => [
    String(row.worker),
    String(row.pid),
    row.port === null ? '-' : String(row.port),
    row.state,
    int(row.counts.reads),
    pct(hitRatio(row.counts)),
    int(row.counts.joined),
    int(row.counts.readErrors + row.counts.writeErrors),
    int(row.counts.writes + row.counts.writesUnacked),
    int(row.loads),
    int(row.invalidations.local),
    int(row.invalidations.remote),
    `${int(row.resyncs.exact)}/${int(row.resyncs.full)}`,
    ms(row.lagMs.p50),
    ms(row.lagMs.p99),
    ms(row.lagMs.max),
  ]);
  const total = [
    'total',
    '',
    '',
    '',
    int(summary.reads.ok),
    pct(summary.hitRatio),
    int(summary.reads.joined),
    int(summary.reads.errors + summary.writes.failed),
    int(summary.writes.acked + summary.writes.unacked),
    int(sum(summary.perWorker, (row) => row.loads)),
    int(summary.invalidations.local),
    int(summary.invalidations.remote),
    `${int(summary.resyncs.exact)}/${int(summary.resyncs.full)}`,
    ms(summary.lagMs.p50),
    ms(summary.lagMs.p99),
    ms(summary.lagMs.max),
  ];
  say('');
  say(table([header, ...rows, total]));
  say('');
  const c = summary.checker;
  say(
    `store: ${int(summary.store.reads)} reads, ${int(summary.store.writes)} writes   link degradations: ${int(summary.degradations)}   ` +
      `writes: ${int(summary.writes.acked)} acknowledged, ${int(summary.writes.unacked)} not (invalidate() rejected), ${int(summary.writes.failed)} failed`,
  );
  const r = summary.resyncs;
  say(`gap repairs: ${int(r.exact)} exact from the log, ${int(r.full)} full (each start counts one); loads avoided by the exact ones: ${int(r.loadsAvoided)}`);
  say(
    `reads: ${int(summary.reads.due)} due, ${int(summary.reads.errors)} failed, ${int(summary.reads.shed)} shed by the generator, ` +
      `${int(summary.reads.lost)} lost with a worker chaos killed ` +
      `(budget ${summary.errorBudgetPct} % each)`,
  );
  for (const e of summary.errorReasons.slice(0, 5)) say(`  ${int(e.count)} × ${e.reason}`);
  const m = summary.machine;
  say(`machine: load average up to ${m.maxLoadAverage.toFixed(1)} on ${m.cores} cores; the load generator's 5 ms timer ran up to ${ms(m.maxTimerLateMs)} late`);
  for (const event of summary.chaosEvents) say(`chaos at ${event.atS.toFixed(1)} s: ${event.what}`);
  if (summary.faultsPlanned > 0) say(`chaos: ${summary.faultsInjected} of ${summary.faultsPlanned} ${summary.chaos} fault(s) injected and undone`);
  const hitsAgree = summary.metrics.hits.every((h) => h.metric === h.observed);
  if (summary.metrics.scrapedWorkers.length === 0) say('/metrics: not scraped (no worker was serving at the end)');
  else
    say(
      `/metrics: ${summary.metrics.names.length} metric families from worker ${summary.metrics.scrapedWorkers[0] ?? '-'}; ` +
        `coherent_cache_requests_total{result="hit"} ${hitsAgree ? 'matches' : 'DOES NOT match'} the hits the load generator saw ` +
        `(${summary.metrics.hits.map((h) => `w${h.worker} ${int(h.metric)}/${int(h.observed)}`).join(', ')})`,
    );
  say(
    `checker: ${int(c.writesAcked)} acknowledged writes, ${int(c.readsChecked)} reads started after one's ack, ` +
      `${int(c.staleReads)} served an older version, worst staleness ${ms(c.worstStalenessMs)} (bound ${c.boundMs} ms)` +
      (c.worst === undefined ? '' : ` — ${describeStale(c.worst)}`),
  );
  const v = summary.verification;
  if (v !== null) {
    say(
      `verification (sampleRate ${v.sampleRate}): ${int(v.violations)} coherence violation(s) on ${v.pairs.length} worker/key pair(s); ` +
        `checker: ${int(c.staleReads)} stale read(s) on ${c.stalePairs.length} — ${v.agree ? 'they agree (both found stale values, and every key verification named had its invalidation skipped)' : 'they DISAGREE'}` +
        (v.pairs.length === 0 ? '' : ` (${v.pairs.slice(0, 5).join(', ')}${v.pairs.length > 5 ? ', …' : ''})`),
    );
  }
  for (const failure of summary.failures) say(`FAIL: ${failure}`);
  say(summary.ok ? `PASS${summary.interrupted ? ' (interrupted)' : ''}` : 'FAIL');
}

/** The worst stale read, with what says why: how the cache answered it, and when it started and answered after the ack. */
export function describeStale(w: StaleRead): string {
  return (
    `${w.key} on worker ${w.worker} served v${w.served} ${ms(w.stalenessMs)} after v${w.expected} was acknowledged ` +
    `(a ${w.how}: started ${ms(w.startedAfterAckMs)} after the ack, answered in ${ms(w.answerMs)})`
  );
}
