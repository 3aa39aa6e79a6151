/**
 * The primary's side of the worker processes: forks them (each serving the
 * config store over IPC), follows each one from start to exit in a Slot, polls
 * their /stats, and stops them at the end. It is what decides whether a worker
 * behaved: one that fails to start, exits on its own or ignores its shutdown is
 * recorded in `failures`.
 */
import cluster, { type Worker } from 'node:cluster';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { DemoOptions } from './args.ts';
import { httpRequest } from './http-client.ts';
import { DEMO_TAG, isWorkerMessage, sendToWorker } from './ipc.ts';
import type { LoadThread } from './load-thread.ts';
import { serveStore, type ConfigStore } from './store.ts';
import type { WorkerStatsBody } from './worker.ts';

const WORKER_FILE = fileURLToPath(new URL('./worker.ts', import.meta.url));
// Resolved here so the workers find tsx whatever their cwd.
const TSX = import.meta.resolve('tsx');
const START_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;
// The supervisor's waits never keep the primary alive by themselves.
const UNREF = { ref: false } as const;

export type SlotState = 'starting' | 'serving' | 'killed' | 'stopping' | 'exited';

/** One forked worker, from fork to exit. */
export interface Slot {
  readonly id: number;
  readonly worker: Worker;
  readonly pid: number;
  readonly replacement: boolean;
  state: SlotState;
  port: number | undefined;
  transport: string | undefined;
  lastStats: WorkerStatsBody | undefined;
  exit: { code: number | null; signal: string | null } | undefined;
  failedToStart: boolean;
  /** Settles once the worker serves (true) or failed / exited before it did (false). */
  readonly ready: Promise<boolean>;
  readonly exited: Promise<void>;
}

export interface SupervisorSettings {
  readonly options: Pick<DemoOptions, 'workers' | 'host' | 'port' | 'degradedTtl' | 'redisUrl' | 'verify' | 'lose'>;
  readonly store: ConfigStore;
  readonly loadgen: LoadThread;
  /** The run's failure list, shared with the rest of the primary. */
  readonly failures: string[];
}

export class Supervisor {
  /** Every worker forked, by cluster worker id, in fork order. */
  readonly slots = new Map<number, Slot>();
  /** Set on the first Ctrl-C: it reaches the whole process group, so a worker dying of SIGINT is then expected. */
  interrupted = false;

  constructor(private readonly settings: SupervisorSettings) {
    cluster.setupPrimary({ exec: WORKER_FILE, execArgv: ['--import', TSX], args: [] });
  }

  all(): Slot[] {
    return [...this.slots.values()];
  }

  /**
   * Forks the first `options.workers` workers and waits until all serve. Returns them, or
   * 'interrupted' when `interrupt` settles first; a timeout or a failed start is recorded in `failures`.
   */
  async start(interrupt: Promise<unknown>): Promise<readonly Slot[] | 'interrupted'> {
    const { workers, port } = this.settings.options;
    const first = Array.from({ length: workers }, (_, i) => this.fork(false, port === 0 ? 0 : port + i));
    const started = await Promise.race([
      Promise.all(first.map((slot) => slot.ready)),
      delay(START_TIMEOUT_MS, undefined, UNREF).then(() => 'timeout' as const),
      interrupt.then(() => 'interrupted' as const),
    ]);
    if (started === 'timeout') this.settings.failures.push(`workers did not all start within ${START_TIMEOUT_MS / 1000} s`);
    else if (started !== 'interrupted' && started.some((ok) => !ok)) this.settings.failures.push('a worker failed to start');
    return started === 'interrupted' ? 'interrupted' : first;
  }

  /** `port`: where the worker serves (0: a free port). A replacement takes its victim's, so a scraper's targets stay valid. */
  fork(replacement: boolean, port: number): Slot {
    const { options, store, loadgen, failures } = this.settings;
    const worker = cluster.fork({ DEMO_HOST: options.host, DEMO_PORT: String(port), DEMO_DEGRADED_TTL: String(options.degradedTtl), DEMO_VERIFY: String(options.verify), DEMO_LOSE: String(options.lose), REDIS_URL: options.redisUrl ?? '' });
    const ready = Promise.withResolvers<boolean>();
    const exited = Promise.withResolvers<void>();
    const slot: Slot = {
      id: worker.id,
      worker,
      pid: worker.process.pid ?? -1,
      replacement,
      state: 'starting',
      port: undefined,
      transport: undefined,
      lastStats: undefined,
      exit: undefined,
      failedToStart: false,
      ready: ready.promise,
      exited: exited.promise,
    };
    this.slots.set(slot.id, slot);
    const stopServing = serveStore(store, worker);
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.kind === 'ready') {
        slot.port = message.port;
        slot.transport = message.transport;
        if (slot.state === 'starting') slot.state = 'serving';
        ready.resolve(true);
      } else if (message.kind === 'failed') {
        failures.push(`worker ${slot.id} could not start: ${message.error}`);
        slot.failedToStart = true;
        ready.resolve(false);
      }
    });
    worker.on('exit', (code, signal) => {
      stopServing();
      slot.exit = { code, signal };
      void loadgen.removeTarget(slot.id);
      // Ctrl-C reaches the whole process group: a worker still loading has no SIGINT handler yet and dies of it.
      const expected = slot.state === 'killed' || slot.state === 'stopping' || (this.interrupted && signal === 'SIGINT');
      if (!expected) failures.push(`worker ${slot.id} (pid ${slot.pid}) exited unexpectedly (code ${String(code)}, signal ${String(signal)})`);
      if (slot.state !== 'killed') slot.state = 'exited';
      ready.resolve(false);
      exited.resolve();
    });
    return slot;
  }

  /** Refreshes every serving worker's `lastStats` from its GET /stats. */
  async pollStats(): Promise<void> {
    await Promise.all(this.all().map((slot) => pollStats(slot)));
  }

  /** Asks every worker to stop and waits for each to exit by itself; one that does not is killed and reported. */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.all().map(async (slot) => {
        if (slot.exit !== undefined) return;
        // A worker still starting cannot hear the request yet: wait until it serves (or gives up).
        if (slot.state === 'starting') await Promise.race([slot.ready, delay(START_TIMEOUT_MS, undefined, UNREF)]);
        if (slot.exit !== undefined) return;
        if (slot.state !== 'killed') slot.state = 'stopping';
        sendToWorker(slot.worker, { tag: DEMO_TAG, kind: 'shutdown' });
        const exited = await Promise.race([slot.exited.then(() => true), delay(EXIT_TIMEOUT_MS, undefined, UNREF).then(() => false)]);
        if (!exited) {
          this.settings.failures.push(`worker ${slot.id} (pid ${slot.pid}) did not exit within ${EXIT_TIMEOUT_MS / 1000} s of its shutdown; killed`);
          slot.worker.process.kill('SIGKILL');
          await slot.exited;
        }
      }),
    );
  }

  /** SIGKILLs every worker still alive, at once. */
  killAll(): void {
    for (const slot of this.slots.values()) if (slot.exit === undefined) slot.worker.process.kill('SIGKILL');
  }
}

async function pollStats(slot: Slot): Promise<void> {
  if (slot.state !== 'serving' || slot.port === undefined) return;
  try {
    const reply = await httpRequest({ port: slot.port, method: 'GET', path: '/stats', timeoutMs: 1_000 });
    if (reply.status === 200) slot.lastStats = JSON.parse(reply.body) as WorkerStatsBody;
  } catch {
    // A worker being killed does not answer; its last stats stay.
  }
}
