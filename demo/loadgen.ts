/**
 * The load generator (in its own thread, see load-thread.ts): reads at `rate`
 * per second spread round-robin over the live workers, writes at `writes` per
 * second to random workers, never two writes of one key at once. Every
 * completed read goes to the coherence checker with the times its worker
 * stamped (started, served); every write with when its invalidate() resolved,
 * or as not acknowledged. Failed requests are tallied by reason, and a worker
 * that stops answering is named (freeze-watch.ts).
 */
import type http from 'node:http';
import os from 'node:os';
import { CoherenceChecker, type CheckerVerdict } from './checker.ts';
import { ErrorTally, HttpStatusError, type ErrorReason } from './error-tally.ts';
import { FreezeWatch, type Freeze } from './freeze-watch.ts';
import { httpRequest, newAgent } from './http-client.ts';
import { fromWall } from './wall-clock.ts';
import type { ReadBody, WriteBody } from './worker.ts';

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
  /** Reads in flight to a worker when chaos killed it: they fail with it, and are not held against the error budget. */
  readsLost: number;
  /** Acknowledged writes. */
  writes: number;
  /** Writes answered 202: written, but invalidate() rejected (InvalidationTimeoutError). */
  writesUnacked: number;
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
  /** The checker's staleness bound, in ms. */
  readonly boundMs: number;
}

/** What the load generator has seen so far (what its thread posts). */
export interface LoadSnapshot {
  readonly counts: readonly (readonly [number, TargetCounts])[];
  /** Reads that came due: sent or shed. */
  readonly readsDue: number;
  readonly shed: number;
  readonly verdict: CheckerVerdict;
  readonly errors: readonly ErrorReason[];
  /** With `since` in ms after the load started. */
  readonly freezes: readonly Freeze[];
  /** How busy the machine was: the highest 1-minute load average seen, the cores, the load generator's own timer lag. */
  readonly machine: { readonly maxLoadAverage: number; readonly cores: number; readonly maxTimerLateMs: number };
}

const TICK_MS = 5;
/** The `maxInFlight` the demo uses: half a second of reads at the default rate, so a hiccup is absorbed and only a worker that keeps falling behind sheds. */
export const MAX_READS_IN_FLIGHT = 1_000;

export function zeroCounts(): TargetCounts {
  return { reads: 0, hits: 0, misses: 0, joined: 0, readErrors: 0, readsLost: 0, writes: 0, writesUnacked: 0, writeErrors: 0, staleReads: 0 };
}

export class LoadGenerator {
  readonly counts = new Map<number, TargetCounts>();
  /** Reads due while `maxInFlight` were already pending. */
  shed = 0;
  private readonly checker: CoherenceChecker;
  private readonly errors = new ErrorTally();
  private readonly freezes = new FreezeWatch();
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
  private maxLoadAverage = 0;
  /** Workers removed because chaos is killing them. */
  private readonly killed = new Set<number>();

  constructor(private readonly settings: LoadSettings) {
    this.checker = new CoherenceChecker(settings.boundMs, (read) => this.countsOf(read.worker).staleReads++);
  }

  addTarget(target: Target): void {
    const agent = newAgent(64);
    this.agents.set(target.worker, agent);
    this.live.push({ ...target, agent });
    this.countsOf(target.worker);
  }

  /** Stops sending to a worker (before chaos kills it: `killed`, or after it died). */
  removeTarget(worker: number, killed = false): void {
    if (killed) this.killed.add(worker);
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

  /** The primary's event loop ran (it sends this every `intervalMs`). */
  primaryAlive(intervalMs: number): void {
    this.freezes.primaryAlive(performance.now(), intervalMs);
  }

  snapshot(): LoadSnapshot {
    const now = performance.now();
    this.maxLoadAverage = Math.max(this.maxLoadAverage, os.loadavg()[0] ?? 0);
    return {
      machine: { maxLoadAverage: this.maxLoadAverage, cores: os.availableParallelism(), maxTimerLateMs: this.freezes.maxTickLateMs },
      counts: [...this.counts],
      readsDue: this.readsIssued,
      shed: this.shed,
      verdict: this.checker.verdict(),
      errors: this.errors.reasons(),
      freezes: this.freezes.all(now).map((freeze) => ({ ...freeze, since: freeze.since - this.startedAt })),
    };
  }

  private countsOf(worker: number): TargetCounts {
    let counts = this.counts.get(worker);
    if (counts === undefined) {
      counts = zeroCounts();
      this.counts.set(worker, counts);
    }
    return counts;
  }

  private tick(): void {
    const now = performance.now();
    this.freezes.tick(now, TICK_MS);
    if (this.live.length === 0) return;
    const elapsed = (now - this.startedAt) / 1000;
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
    const counts = this.countsOf(target.worker);
    const id = this.pickId();
    const sentAt = performance.now();
    this.readsInFlight++;
    this.freezes.started(target.worker, sentAt);
    this.track(
      httpRequest({ agent: target.agent, port: target.port, method: 'GET', path: `/config/${id}` })
        .then((reply) => {
          const answeredAt = performance.now();
          if (reply.status !== 200) throw new HttpStatusError(reply.status, reply.body);
          const body = JSON.parse(reply.body) as ReadBody;
          counts.reads++;
          const how = reply.headers['x-cache'];
          if (how === 'hit') counts.hits++;
          else if (how === 'joined') counts.joined++;
          else counts.misses++;
          const startedAt = within(fromWall(body.startedAt), sentAt, answeredAt);
          const servedAt = within(fromWall(body.servedAt), startedAt, answeredAt);
          this.checker.readServed({ key: id, worker: target.worker, version: body.version, startedAt, servedAt, how: typeof how === 'string' ? how : '?' });
        })
        .catch((error: unknown) => {
          if (this.killed.has(target.worker)) {
            counts.readsLost++;
            return;
          }
          counts.readErrors++;
          this.errors.add(target.worker, 'read', error);
        })
        .finally(() => {
          this.readsInFlight--;
          this.freezes.ended(target.worker, performance.now());
        }),
    );
  }

  private write(): void {
    const target = this.live[Math.floor(Math.random() * this.live.length)] as Target & { agent: http.Agent };
    const counts = this.countsOf(target.worker);
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
    const sentAt = performance.now();
    this.checker.writeSent(key, sentAt);
    this.freezes.started(target.worker, sentAt);
    this.track(
      httpRequest({ agent: target.agent, port: target.port, method: 'PUT', path: `/config/${key}`, body })
        .then((reply) => {
          const answeredAt = performance.now();
          if (reply.status !== 200 && reply.status !== 202) throw new HttpStatusError(reply.status, reply.body);
          const answer = JSON.parse(reply.body) as WriteBody;
          if (!answer.acknowledged) {
            counts.writesUnacked++;
            this.checker.writeEnded(key, true);
            return;
          }
          counts.writes++;
          this.checker.writeAcked(key, answer.version, within(fromWall(answer.ackAt), sentAt, answeredAt));
        })
        .catch((error: unknown) => {
          // An unanswered write promises nothing: the checker only hears that it ended.
          counts.writeErrors++;
          this.errors.add(target.worker, 'write', error);
          this.checker.writeEnded(key, false);
        })
        .finally(() => {
          this.writing.delete(key);
          this.freezes.ended(target.worker, performance.now());
        }),
    );
  }

  private pickId(): string {
    return this.settings.ids[Math.floor(Math.random() * this.settings.ids.length)] as string;
  }

}

/** `stamp` (another process's clock, converted) kept within what this side saw: a skewed clock cannot place it outside. */
function within(stamp: number, earliest: number, latest: number): number {
  return Math.min(latest, Math.max(earliest, stamp));
}
