/**
 * `npm run chaos`'s table: one row per fault type, from the --json summary of
 * the demo run that injected it, and whether the row meets the target (no read
 * over the bound, every fault injected, reads judged). It renders and decides;
 * chaos-matrix.ts runs the demos.
 */
import type { Fault } from './args.ts';
import { int, ms, table } from './format.ts';
import { describeStale } from './final-report.ts';
import type { DemoSummary } from './summary.ts';

export interface ChaosRow {
  readonly fault: Fault;
  readonly planned: number;
  /** Undefined when the run printed no summary. */
  readonly summary: DemoSummary | undefined;
  /** Seconds the run took, start to exit. */
  readonly tookS: number;
  /** What went wrong running it (no summary, exit code), if anything. */
  readonly broken: string | undefined;
}

/** Why the row misses the target, or undefined when it meets it. */
export function rowProblem(row: ChaosRow): string | undefined {
  const s = row.summary;
  if (s === undefined) return row.broken ?? 'no summary';
  if (s.checker.violations > 0) return `${int(s.checker.violations)} read(s) over the bound`;
  if (s.faultsInjected < row.planned) return `only ${s.faultsInjected} of ${row.planned} faults injected`;
  if (s.checker.readsChecked === 0) return 'no read was judged';
  return undefined;
}

export function renderTable(rows: readonly ChaosRow[]): string {
  const header = ['fault', 'faults', 'reads', 'stale reads', 'over bound', 'worst staleness', 'bound', 'read errors', 'lost', 'shed', 'writes acked', 'unacked', 'load avg', 'run', 'target'];
  const body = rows.map((row) => {
    const s = row.summary;
    const problem = rowProblem(row);
    if (s === undefined) return [row.fault, `0/${row.planned}`, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', `${row.tookS.toFixed(0)} s`, `MISS (${problem ?? ''})`];
    return [
      row.fault,
      `${s.faultsInjected}/${row.planned}`,
      int(s.reads.ok),
      int(s.checker.staleReads),
      int(s.checker.violations),
      s.checker.staleReads === 0 ? '-' : ms(s.checker.worstStalenessMs),
      `${s.checker.boundMs} ms`,
      int(s.reads.errors),
      int(s.reads.lost),
      int(s.reads.shed),
      int(s.writes.acked),
      int(s.writes.unacked),
      `${s.machine.maxLoadAverage.toFixed(1)}/${s.machine.cores}`,
      `${row.tookS.toFixed(0)} s`,
      problem === undefined ? 'MET' : 'MISS',
    ];
  });
  return table([header, ...body]);
}

/** Under the table: each row's problem and the demo's own failures (errors past the budget, freezes...). */
export function rowNotes(row: ChaosRow): string[] {
  const problem = rowProblem(row);
  const notes = problem === undefined ? [] : [`${row.fault}: MISS: ${problem}`];
  const s = row.summary;
  if (s?.checker.worst !== undefined && s.checker.violations > 0) {
    const w = s.checker.worst;
    notes.push(`${row.fault}: worst: ${describeStale(w)}`);
  }
  for (const failure of s?.failures ?? []) notes.push(`${row.fault}: demo: ${failure}`);
  return notes;
}
