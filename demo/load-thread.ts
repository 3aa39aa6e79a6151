/**
 * The primary's handle on the load generator, which runs in a worker thread
 * (load-thread-main.ts) so that a stalled primary (--chaos primary-stall)
 * stalls the relay and the store but not the clients, nor the checker. It
 * forwards targets and start/stop, and keeps the thread's latest snapshot:
 * counts, shed reads, the checker's verdict, error reasons, freezes.
 */
import { Worker } from 'node:worker_threads';
import type { CheckerVerdict } from './checker.ts';
import { ALIVE_MS } from './freeze-watch.ts';
import { zeroCounts, type LoadSettings, type LoadSnapshot, type Target, type TargetCounts } from './loadgen.ts';

export type LoadCommand =
  | { readonly kind: 'add'; readonly target: Target }
  /** `killed`: about to be killed by chaos, so what is in flight to it is lost with it. */
  | { readonly kind: 'remove'; readonly worker: number; readonly killed: boolean }
  | { readonly kind: 'start' }
  | { readonly kind: 'stop' }
  /** Sent every ALIVE_MS while the primary's event loop runs. */
  | { readonly kind: 'alive' };

export type LoadReport = { readonly kind: 'snapshot' | 'stopped'; readonly snapshot: LoadSnapshot } | { readonly kind: 'removed'; readonly worker: number };

// A worker thread does not inherit tsx's hooks: the thread loads its TypeScript entry through tsx's API.
const THREAD_FILE = new URL('./load-thread-main.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');
const BOOT = `import(${JSON.stringify(TSX_API)}).then(({ tsImport }) => tsImport(${JSON.stringify(THREAD_FILE)}, ${JSON.stringify(import.meta.url)}))`;

export class LoadThread {
  /** The latest snapshot (complete once stop() resolved). */
  latest: LoadSnapshot;
  readonly counts = new Map<number, TargetCounts>();
  private readonly thread: Worker;
  private readonly stopped = Promise.withResolvers<void>();
  private readonly alive: NodeJS.Timeout;
  private readonly removals = new Map<number, PromiseWithResolvers<void>>();
  private started = false;
  private stopping = false;

  constructor(settings: LoadSettings, onError: (error: Error) => void) {
    this.latest = { counts: [], readsDue: 0, shed: 0, verdict: emptyVerdict(settings.boundMs), errors: [], freezes: [], machine: { maxLoadAverage: 0, cores: 1, maxTimerLateMs: 0 } };
    this.thread = new Worker(BOOT, { eval: true, workerData: settings });
    this.thread.on('message', (report: LoadReport) => {
      if (report.kind === 'removed') {
        this.removals.get(report.worker)?.resolve();
        return;
      }
      this.take(report.snapshot);
      if (report.kind === 'stopped') this.stopped.resolve();
    });
    this.thread.on('error', (error: unknown) => {
      onError(error instanceof Error ? error : new Error(String(error)));
      this.stopped.resolve();
    });
    this.thread.on('exit', () => this.stopped.resolve());
    this.alive = setInterval(() => this.send({ kind: 'alive' }), ALIVE_MS).unref();
  }

  addTarget(target: Target): void {
    if (!this.counts.has(target.worker)) this.counts.set(target.worker, zeroCounts());
    this.send({ kind: 'add', target });
  }

  /** Resolves once the thread sends it nothing more (at once if the thread is stopping or gone). */
  removeTarget(worker: number, killed = false): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const removed = Promise.withResolvers<void>();
    this.removals.set(worker, removed);
    this.send({ kind: 'remove', worker, killed });
    return Promise.race([removed.promise, this.stopped.promise]);
  }

  get running(): boolean {
    return this.started && !this.stopping;
  }

  get shed(): number {
    return this.latest.shed;
  }

  verdict(): CheckerVerdict {
    return this.latest.verdict;
  }

  start(): void {
    this.started = true;
    this.send({ kind: 'start' });
  }

  /** Stops issuing requests, waits for those in flight, and takes the final snapshot. */
  async stop(): Promise<void> {
    if (!this.stopping) this.send({ kind: 'stop' });
    this.stopping = true;
    await this.stopped.promise;
  }

  /** Ends the thread (at once, if stop() was not awaited). */
  close(): void {
    clearInterval(this.alive);
    void this.thread.terminate();
  }

  totals(): TargetCounts {
    const total = zeroCounts();
    for (const counts of this.counts.values()) {
      for (const name of Object.keys(total) as (keyof TargetCounts)[]) total[name] += counts[name];
    }
    return total;
  }

  private take(snapshot: LoadSnapshot): void {
    this.latest = snapshot;
    for (const [worker, counts] of snapshot.counts) this.counts.set(worker, counts);
  }

  private send(command: LoadCommand): void {
    if (!this.stopping) this.thread.postMessage(command);
  }
}

function emptyVerdict(boundMs: number): CheckerVerdict {
  return { boundMs, writesAcked: 0, writesUnacked: 0, readsChecked: 0, staleReads: 0, worstStalenessMs: 0, worst: undefined, violations: 0, stalePairs: [], ok: true };
}
