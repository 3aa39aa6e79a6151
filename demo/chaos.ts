/**
 * The chaos of `--chaos worker|redis`: half-way through the load, either a
 * worker is SIGKILLed (and a replacement forked onto its port), or Redis is
 * told to drop every pub/sub connection. The run must pass through it: that
 * is what the demo shows. What happened, and when, goes into the summary.
 */
import { Redis } from 'ioredis';
import type { DemoOptions } from './args.ts';
import { errorMessage } from './error-message.ts';
import type { LoadGenerator } from './loadgen.ts';
import type { HumanOutput } from './output.ts';
import type { Supervisor } from './supervisor.ts';

export interface ChaosEvent {
  /** Seconds since the load started. */
  readonly atS: number;
  readonly what: string;
}

export interface ChaosSettings {
  readonly options: Pick<DemoOptions, 'chaos' | 'duration' | 'port' | 'redisUrl'>;
  readonly supervisor: Supervisor;
  readonly loadgen: LoadGenerator;
  readonly out: HumanOutput;
  /** Seconds since the load started. */
  readonly elapsedS: () => number;
  /** The run's failure list: a chaos action that throws is recorded there. */
  readonly failures: string[];
}

export class Chaos {
  readonly events: ChaosEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private done: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(private readonly settings: ChaosSettings) {}

  /** Schedules the action (if any) for half-way through the load. */
  schedule(): void {
    const { chaos, duration } = this.settings.options;
    if (chaos === 'none') return;
    this.timer = setTimeout(() => {
      this.done = (chaos === 'worker' ? this.killOneWorker() : this.killPubSub()).catch((error: unknown) => {
        this.settings.failures.push(`chaos ${chaos} failed: ${errorMessage(error)}`);
      });
    }, (duration * 1000) / 2);
  }

  /** Cancels an action not yet started; one under way will not add a replacement to the load. */
  stop(): void {
    this.stopping = true;
    clearTimeout(this.timer);
  }

  /** Settles once an action under way has finished. */
  settled(): Promise<void> {
    return this.done;
  }

  private async killOneWorker(): Promise<void> {
    const { supervisor, loadgen, out, elapsedS, options } = this.settings;
    const victim = supervisor.all().find((slot) => slot.state === 'serving');
    if (victim === undefined) return;
    // Stop routing to it first; requests already in flight to it fail (and count as errors).
    loadgen.removeTarget(victim.id);
    victim.state = 'killed';
    victim.worker.process.kill('SIGKILL');
    this.events.push({ atS: elapsedS(), what: `killed worker ${victim.id} (pid ${victim.pid}) with SIGKILL` });
    out.announce(`chaos: killed worker ${victim.id} (pid ${victim.pid}); forking a replacement`);
    await victim.exited;
    const replacement = supervisor.fork(true, options.port === 0 ? 0 : (victim.port ?? 0));
    if (!(await replacement.ready)) return;
    if (this.stopping) return;
    loadgen.addTarget({ worker: replacement.id, port: replacement.port as number });
    this.events.push({ atS: elapsedS(), what: `replacement worker ${replacement.id} (pid ${replacement.pid}) serving on :${replacement.port ?? '?'}` });
    out.announce(`chaos: replacement worker ${replacement.id} serving on :${replacement.port ?? '?'}`);
  }

  private async killPubSub(): Promise<void> {
    const { options, out, elapsedS } = this.settings;
    const admin = new Redis(options.redisUrl as string, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
      const killed = await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      const what = `CLIENT KILL TYPE pubsub closed ${String(killed)} subscriber connection(s)`;
      this.events.push({ atS: elapsedS(), what });
      out.announce(`chaos: ${what}`);
    } finally {
      await admin.quit().catch(() => admin.disconnect());
    }
  }
}
