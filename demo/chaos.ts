/**
 * The chaos of `--chaos <fault> [--faults n]`: the fault is injected n times,
 * one after the other (faults.ts does each), the first half-way through the
 * load when there is one, else after a second of warm-up, and the next a
 * recovery gap after the previous one was undone. The run must pass through
 * them: that is what the demo shows. What happened, and when, goes into the
 * summary; a fault that could not be injected is a failure of the run.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { DemoOptions } from './args.ts';
import { errorMessage } from './error-message.ts';
import { holdMs, injectFault, type FaultContext } from './faults.ts';
import type { HumanOutput } from './output.ts';

export interface ChaosEvent {
  /** Seconds since the load started. */
  readonly atS: number;
  readonly what: string;
}

export interface ChaosSettings extends Omit<FaultContext, 'note' | 'stopping' | 'options'> {
  readonly options: Pick<DemoOptions, 'chaos' | 'faults' | 'duration' | 'port' | 'degradedTtl'>;
  readonly out: HumanOutput;
  /** Seconds since the load started. */
  readonly elapsedS: () => number;
  /** The run's failure list: a fault that could not be injected is recorded there. */
  readonly failures: string[];
}

/** Warm-up before the first of several faults. */
const LEAD_MS = 1_000;

export class Chaos {
  readonly events: ChaosEvent[] = [];
  /** Faults injected and undone. */
  injected = 0;
  /** performance.now() when the last fault was undone. */
  lastUndoneAt = 0;
  private done: Promise<void> = Promise.resolve();
  private readonly stopped = new AbortController();

  constructor(private readonly settings: ChaosSettings) {}

  /** Starts injecting (if there is a fault to inject). */
  schedule(): void {
    const { chaos, faults, duration } = this.settings.options;
    if (chaos === 'none') return;
    const lead = faults === 1 ? (duration * 1000) / 2 : LEAD_MS;
    this.done = this.inject(chaos, lead).catch((error: unknown) => {
      if (!this.stopped.signal.aborted) this.settings.failures.push(`chaos ${chaos} failed after ${this.injected} fault(s): ${errorMessage(error)}`);
    });
  }

  /** No further fault is started; one under way is finished (without adding a replacement worker to the load). */
  stop(): void {
    this.stopped.abort();
  }

  /** Settles once the last fault was undone (or the chaos stopped). */
  settled(): Promise<void> {
    return this.done;
  }

  private async inject(chaos: Exclude<DemoOptions['chaos'], 'none'>, lead: number): Promise<void> {
    const { options, out, elapsedS } = this.settings;
    const signal = this.stopped.signal;
    const context: FaultContext = {
      ...this.settings,
      note: (what) => {
        this.events.push({ atS: elapsedS(), what });
        out.announce(`chaos: ${what}`);
      },
      stopping: () => signal.aborted,
    };
    await delay(lead, undefined, { signal });
    for (let n = 1; n <= options.faults; n++) {
      await injectFault(chaos, n, context);
      this.injected++;
      this.lastUndoneAt = performance.now();
      // Time to recover (reconnect, resync) and for the reads after it to be judged.
      if (n < options.faults) await delay(1_000 + holdMs(options.degradedTtl) / 3, undefined, { signal });
    }
  }
}
