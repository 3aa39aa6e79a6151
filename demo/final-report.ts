/**
 * The human-readable end of a run: the per-worker table with its total row,
 * the store and chaos lines, the /metrics check, the checker's verdict, every
 * failure and PASS or FAIL. It renders a DemoSummary and decides nothing.
 */
import { hitRatio, int, ms, pct, sum, table } from './format.ts';
import type { DemoSummary } from './summary.ts';

export function printSummary(summary: DemoSummary, say: (line: string) => void): void {
  const header = ['worker', 'pid', 'port', 'state', 'reads', 'hit%', 'joined', 'errors', 'writes', 'loads', 'inval local', 'inval remote', 'resyncs', 'lag p50', 'lag p99', 'lag max'];
  const rows = summary.perWorker.map((row) => [
    String(row.worker),
    String(row.pid),
    row.port === null ? '-' : String(row.port),
    row.state,
    int(row.counts.reads),
    pct(hitRatio(row.counts)),
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
