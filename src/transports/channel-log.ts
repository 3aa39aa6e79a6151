/**
 * A channel's log kept in process, for the transports whose server is a
 * process (the memory bus, the node:cluster primary): entries numbered from 1
 * within an epoch, bounded by count and by age. The Redis transport keeps the
 * same log in Redis (redis-log.ts).
 */
import { randomBytes } from 'node:crypto';
import { CacheOptionError } from '../cache/errors.ts';
import { describe as describeValue } from '../cache/validate.ts';
import type { DeliveredPosition, LogRead, PublishKind, TransportLog } from './transport.ts';

/** How much of a channel's log is kept. */
export interface LogRetention {
  /** Entries kept per channel. Default 10 000. */
  readonly maxEntries?: number;
  /** How long an entry is kept, in ms. Default 3 600 000 (an hour). */
  readonly maxAge?: number;
}

export interface ResolvedRetention {
  readonly maxEntries: number;
  readonly maxAge: number;
}

export const DEFAULT_RETENTION: ResolvedRetention = Object.freeze({ maxEntries: 10_000, maxAge: 3_600_000 });

/** `true` or a retention: the log is on, with these bounds; `false` or undefined: off. Throws naming the option when invalid. */
export function resolveRetention(option: string, value: unknown): ResolvedRetention | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_RETENTION;
  if (typeof value !== 'object' || value === null) throw new CacheOptionError(option, `must be true, false or { maxEntries, maxAge }, got ${describeValue(value)}`);
  const given = value as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (name !== 'maxEntries' && name !== 'maxAge') throw new CacheOptionError(`${option}.${name}`, 'is not an option (maxEntries, maxAge)');
  }
  return {
    maxEntries: boundedInteger(`${option}.maxEntries`, given.maxEntries ?? DEFAULT_RETENTION.maxEntries, 1, 10_000_000),
    maxAge: boundedInteger(`${option}.maxAge`, given.maxAge ?? DEFAULT_RETENTION.maxAge, 1_000, 7 * 24 * 3_600_000),
  };
}

function boundedInteger(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CacheOptionError(option, `must be an integer from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

/** A fresh epoch: a new log is told apart from an old one that restarted at 1. */
export function newEpoch(): string {
  return randomBytes(6).toString('hex');
}

interface Entry {
  readonly seq: number;
  readonly payload: string;
  readonly at: number;
}

export class ChannelLog {
  private epoch = newEpoch();
  private head = 0;
  private readonly entries: Entry[] = [];
  /** Index of the oldest kept entry in `entries` (trimming advances it; the array is compacted now and then). */
  private first = 0;

  constructor(private readonly retention: ResolvedRetention) {}

  /** Appends `payload`; its position. */
  append(payload: string): DeliveredPosition {
    const now = Date.now();
    this.entries.push({ seq: ++this.head, payload, at: now });
    this.trim(now);
    return { epoch: this.epoch, seq: this.head, entry: true };
  }

  /** The position a mark (a heartbeat, not logged) carries: the head now. */
  mark(): DeliveredPosition {
    return { epoch: this.epoch, seq: this.head, entry: false };
  }

  read(after: { readonly epoch: string; readonly seq: number } | undefined): LogRead {
    this.trim(Date.now());
    const { epoch, head } = this;
    if (after === undefined || after.epoch !== epoch || after.seq > head) return { epoch, head, covered: false, entries: [] };
    const oldest = this.entries[this.first];
    // Covered when nothing after `after` was trimmed: the oldest kept entry is at most after + 1 (or nothing is missing).
    const covered = after.seq === head || (oldest !== undefined && oldest.seq <= after.seq + 1);
    if (!covered) return { epoch, head, covered, entries: [] };
    const entries = this.entries.slice(this.first + Math.max(0, after.seq + 1 - (oldest?.seq ?? head + 1))).map(({ seq, payload }) => ({ seq, payload }));
    return { epoch, head, covered, entries };
  }

  /** Forgets everything and starts a new epoch (as a server restarted without persistence would). */
  reset(): void {
    this.epoch = newEpoch();
    this.head = 0;
    this.entries.length = 0;
    this.first = 0;
  }

  private trim(now: number): void {
    const { maxEntries, maxAge } = this.retention;
    const entries = this.entries;
    while (this.first < entries.length && (entries.length - this.first > maxEntries || (entries[this.first] as Entry).at < now - maxAge)) this.first++;
    if (this.first > 1024 && this.first * 2 > entries.length) {
      entries.splice(0, this.first);
      this.first = 0;
    }
  }
}

/** The logs of every channel one server keeps (the memory bus, the cluster relay), each made on first use. */
export class ChannelLogs {
  private readonly logs = new Map<string, ChannelLog>();

  constructor(readonly retention: ResolvedRetention) {}

  of(channel: string): ChannelLog {
    let log = this.logs.get(channel);
    if (log === undefined) {
      log = new ChannelLog(this.retention);
      this.logs.set(channel, log);
    }
    return log;
  }

  /** The position `payload` gets when published as `kind`: appended as an entry, a mark of the head, or none (plain). */
  position(channel: string, payload: string, kind: PublishKind): DeliveredPosition | undefined {
    return kind === 'entry' ? this.of(channel).append(payload) : kind === 'mark' ? this.of(channel).mark() : undefined;
  }

  /** What an endpoint of this server reads the logs through; `unreachable` says why it cannot now (its link is down), or undefined. */
  reader(unreachable: () => Error | undefined): TransportLog {
    return {
      read: (channel, after) => {
        const error = unreachable();
        return error === undefined ? Promise.resolve(this.of(channel).read(after)) : Promise.reject(error);
      },
    };
  }

  /** Every log starts again in a new epoch (as a server restarted without persistence). */
  resetAll(): void {
    for (const log of this.logs.values()) log.reset();
  }
}
