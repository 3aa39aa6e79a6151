/**
 * The load generator (in the primary): reads at `rate` per second spread
 * round-robin over the live workers, writes at `writes` per second to random
 * workers, never two writes of one key at once. Every completed read goes to
 * the coherence checker with the time it started; every acknowledged write
 * with the time its PUT returned.
 */
import type http from 'node:http';
import type { CoherenceChecker } from './checker.ts';
import { errorMessage } from './error-message.ts';
import { httpRequest, newAgent } from './http-client.ts';

export interface Target {
  readonly worker: number;
  readonly port: number;
}

export interface TargetCounts {
  reads: number;
  hits: number;
  misses: number;
  /** Reads that joined another caller's load in flight. */
  joined: number;
  readErrors: number;
  writes: number;
  writeErrors: number;
  /** Reads that served an older version than an acknowledged write (within the bound or not; see checker.ts). */
  staleReads: number;
}

export interface LoadSettings {
  readonly ids: readonly string[];
  readonly rate: number;
  readonly writes: number;
  /** Reads in flight at most; reads due beyond it are shed (counted, not sent). */
  readonly maxInFlight: number;
}

const TICK_MS = 5;

export function zeroCounts(): TargetCounts {
  return { reads: 0, hits: 0, misses: 0, joined: 0, readErrors: 0, writes: 0, writeErrors: 0, staleReads: 0 };
}

export class LoadGenerator {
  readonly counts = new Map<number, TargetCounts>();
  /** Reads due while `maxInFlight` were already pending. */
  shed = 0;
  /** Last read errors, for the report. */
  readonly lastErrors: string[] = [];
  private live: (Target & { agent: http.Agent })[] = [];
  private readonly agents = new Map<number, http.Agent>();
  private readonly inFlight = new Set<Promise<void>>();
  private readsInFlight = 0;
  private readonly writing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private readsIssued = 0;
  private writesIssued = 0;
  private nextTarget = 0;
  private writeSeq = 0;

  constructor(
    private readonly settings: LoadSettings,
    private readonly checker: CoherenceChecker,
  ) {}

  addTarget(target: Target): void {
    const agent = newAgent(64);
    this.agents.set(target.worker, agent);
    this.live.push({ ...target, agent });
    if (!this.counts.has(target.worker)) this.counts.set(target.worker, zeroCounts());
  }

  /** Stops sending to a worker (before it is killed, or after it died). */
  removeTarget(worker: number): void {
    this.live = this.live.filter((target) => target.worker !== worker);
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Stops issuing requests and waits for those in flight (each has its own timeout). */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Closes the keep-alive sockets. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  totals(): TargetCounts {
    const total = zeroCounts();
    for (const counts of this.counts.values()) {
      for (const name of Object.keys(total) as (keyof TargetCounts)[]) total[name] += counts[name];
    }
    return total;
  }

  private tick(): void {
    if (this.live.length === 0) return;
    const elapsed = (performance.now() - this.startedAt) / 1000;
    const reads = Math.floor(elapsed * this.settings.rate) - this.readsIssued;
    for (let i = 0; i < reads; i++) {
      this.readsIssued++;
      if (this.readsInFlight >= this.settings.maxInFlight) {
        this.shed++;
        continue;
      }
      this.read();
    }
    const writes = Math.floor(elapsed * this.settings.writes) - this.writesIssued;
    for (let i = 0; i < writes; i++) {
      this.writesIssued++;
      this.write();
    }
  }

  private track(promise: Promise<void>): void {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
  }

  private read(): void {
    const target = this.live[this.nextTarget++ % this.live.length] as Target & { agent: http.Agent };
    const counts = this.counts.get(target.worker) as TargetCounts;
    const id = this.pickId();
    const startedAt = performance.now();
    this.readsInFlight++;
    this.track(
      httpRequest({ agent: target.agent, port: target.port, method: 'GET', path: `/config/${id}` })
        .then((reply) => {
          if (reply.status !== 200) throw new Error(`GET /config/${id} on worker ${target.worker}: ${reply.status} ${reply.body.slice(0, 100)}`);
          const { version } = JSON.parse(reply.body) as { version: number };
          counts.reads++;
          const how = reply.headers['x-cache'];
          if (how === 'hit') counts.hits++;
          else if (how === 'joined') counts.joined++;
          else counts.misses++;
          if (this.checker.readServed(id, target.worker, startedAt, version) !== undefined) counts.staleReads++;
        })
        .catch((error: unknown) => {
          counts.readErrors++;
          this.noteError(error);
        })
        .finally(() => this.readsInFlight--),
    );
  }

  private write(): void {
    const target = this.live[Math.floor(Math.random() * this.live.length)] as Target & { agent: http.Agent };
    const counts = this.counts.get(target.worker) as TargetCounts;
    // One write per key at a time: acknowledged versions then increase with their ack times.
    let id: string | undefined;
    for (let attempt = 0; attempt < 8 && id === undefined; attempt++) {
      const candidate = this.pickId();
      if (!this.writing.has(candidate)) id = candidate;
    }
    if (id === undefined) return;
    const key = id;
    this.writing.add(key);
    const body = JSON.stringify({ value: `value-${++this.writeSeq}` });
    this.track(
      httpRequest({ agent: target.agent, port: target.port, method: 'PUT', path: `/config/${key}`, body })
        .then((reply) => {
          const ackAt = performance.now();
          if (reply.status !== 200) throw new Error(`PUT /config/${key} on worker ${target.worker}: ${reply.status} ${reply.body.slice(0, 100)}`);
          const { version } = JSON.parse(reply.body) as { version: number };
          counts.writes++;
          this.checker.writeAcked(key, version, ackAt);
        })
        .catch((error: unknown) => {
          // An unacknowledged write promises nothing: the checker never hears of it.
          counts.writeErrors++;
          this.noteError(error);
        })
        .finally(() => this.writing.delete(key)),
    );
  }

  private pickId(): string {
    return this.settings.ids[Math.floor(Math.random() * this.settings.ids.length)] as string;
  }

  private noteError(error: unknown): void {
    this.lastErrors.push(errorMessage(error));
    if (this.lastErrors.length > 5) this.lastErrors.shift();
  }
}
