/**
 * The live progress line, once a second while the load runs: reads and their
 * rate, hit ratio, writes, invalidations, propagation lag, staleness seen so
 * far, live workers. Each update first polls every worker's /stats, which also
 * keeps their last stats fresh for the final summary.
 */
import type { CheckerVerdict } from './checker.ts';
import { hitRatio, int, lagSummary, ms, pct, sum } from './format.ts';
import type { LoadThread } from './load-thread.ts';
import type { TargetCounts } from './loadgen.ts';
import type { HumanOutput } from './output.ts';
import { invalidationCounts, lagSamples } from './summary.ts';
import type { Slot, Supervisor } from './supervisor.ts';

export interface ProgressSettings {
  readonly out: HumanOutput;
  readonly supervisor: Supervisor;
  readonly loadgen: LoadThread;
}

export class ProgressPrinter {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly settings: ProgressSettings) {}

  /** `loadStartedAt`: performance.now() when the load started. */
  start(loadStartedAt: number): void {
    const { out, supervisor, loadgen } = this.settings;
    let lastReads = 0;
    let polling = false;
    this.timer = setInterval(() => {
      if (polling) return;
      polling = true;
      void supervisor.pollStats().then(() => {
        polling = false;
        if (this.stopped) return;
        const totals = loadgen.totals();
        const line = progressLine((performance.now() - loadStartedAt) / 1000, totals, totals.reads - lastReads, supervisor.all(), loadgen.verdict(), loadgen.shed);
        lastReads = totals.reads;
        out.progress(line);
      });
    }, 1_000);
  }

  /** No update after this one, not even from a poll under way. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}

function progressLine(t: number, totals: TargetCounts, readsThisSecond: number, slots: readonly Slot[], verdict: CheckerVerdict, shed: number): string {
  const invalidations = slots.map(invalidationCounts);
  const serving = slots.filter((slot) => slot.state === 'serving').length;
  const errors = totals.readErrors + totals.writeErrors;
  return [
    `${t.toFixed(0).padStart(3)}s`,
    `reads ${int(totals.reads)} (${int(readsThisSecond)}/s)`,
    `hit ${pct(hitRatio(totals))}`,
    `writes ${int(totals.writes)}${totals.writesUnacked > 0 ? ` (+${int(totals.writesUnacked)} unacked)` : ''}`,
    `inval local ${int(sum(invalidations, (i) => i.local))} remote ${int(sum(invalidations, (i) => i.remote))}`,
    `lag p99 ${ms(lagSummary(lagSamples(slots)).p99)}`,
    `stale ${int(verdict.staleReads)} worst ${ms(verdict.worstStalenessMs)}`,
    `workers ${serving}`,
    ...(errors > 0 ? [`errors ${int(errors)}`] : []),
    ...(shed > 0 ? [`shed ${int(shed)}`] : []),
  ].join(' │ ');
}
