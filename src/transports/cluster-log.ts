/**
 * The log of the node:cluster transport (cluster.ts): the primary's relay
 * keeps a ChannelLog per channel, numbers every entry it relays and answers
 * the workers' reads over IPC; a worker asks and waits, bounded by a timeout.
 * Here: the options of both sides, the relay's logs, a worker's pending reads
 * and the checks of the log's IPC messages, which are untrusted input.
 *
 * How a worker knows the relay keeps a log: it is told, twice. The primary is
 * set up with `installClusterRelay({ log })` and each worker transport with
 * `clusterTransport({ log: true })`; the relay's answer to a worker's hello
 * says whether it keeps a log. A cache reads `transport.log` once, when it is
 * created, before any answer could arrive, so the worker's own option decides
 * whether the transport has one; the answer only checks it. A worker transport
 * with the log whose relay keeps none stays disconnected (its caches degraded)
 * and a process warning says why: it could never vouch for what it applied.
 * A worker transport without the log on a relay that keeps one works as before
 * (the positions it is sent are dropped, it repairs gaps by a full resync).
 */
import { CacheOptionError } from '../cache/errors.ts';
import { describe as describeValue, timerMs } from '../cache/validate.ts';
import { ChannelLogs, resolveRetention, type LogRetention, type ResolvedRetention } from './channel-log.ts';
import type { DeliveredPosition, LogRead, PublishKind } from './transport.ts';

export interface ClusterTransportOptions {
  /**
   * This transport reads the relay's log to repair gaps: set it when the
   * primary runs `installClusterRelay({ log })`. A relay without the log
   * leaves such a transport disconnected. Default false.
   */
  readonly log?: boolean;
  /** How long a log read waits for the relay's answer before it fails (the cache retries at its next heartbeat), in ms. Default 2 000. */
  readonly readTimeout?: number;
}

export interface ClusterRelayOptions {
  /** Keep a log of every relayed channel, bounded by count and age, for the workers' `clusterTransport({ log: true })`. Default off. */
  readonly log?: boolean | LogRetention;
}

export interface ResolvedTransportOptions {
  readonly log: boolean;
  readonly readTimeout: number;
}

const TRANSPORT_OPTIONS: ReadonlySet<string> = new Set(['log', 'readTimeout']);

function optionsObject(name: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new CacheOptionError(name, `must be an object, got ${describeValue(options)}`);
  return options as Record<string, unknown>;
}

export function resolveTransportOptions(options: unknown): ResolvedTransportOptions {
  const given = optionsObject('clusterTransport', options);
  for (const key of Object.keys(given)) {
    if (!TRANSPORT_OPTIONS.has(key)) throw new CacheOptionError(`clusterTransport.${key}`, 'is not a known option (log, readTimeout)');
  }
  const log = given['log'] ?? false;
  if (typeof log !== 'boolean') {
    throw new CacheOptionError('clusterTransport.log', `must be true or false (the retention is the relay's: installClusterRelay({ log })), got ${describeValue(log)}`);
  }
  return { log, readTimeout: timerMs('clusterTransport.readTimeout', given['readTimeout'] ?? 2_000) };
}

/** The relay's retention (undefined: it keeps no log). */
export function resolveRelayOptions(options: unknown): ResolvedRetention | undefined {
  const given = optionsObject('installClusterRelay', options);
  for (const key of Object.keys(given)) {
    if (key !== 'log') throw new CacheOptionError(`installClusterRelay.${key}`, 'is not a known option (log)');
  }
  return resolveRetention('installClusterRelay.log', given['log']);
}

export function sameRetention(a: ResolvedRetention | undefined, b: ResolvedRetention | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.maxEntries === b.maxEntries && a.maxAge === b.maxAge);
}

/** The relay's logs, one per channel, created by the first entry or read. */
export class RelayLogs extends ChannelLogs {
  /** Numbers `payloads` (entries are appended; a mark carries the head; plain ones neither): the position of the first. */
  positionOfFirst(channel: string, payloads: readonly string[], kind: PublishKind): DeliveredPosition | undefined {
    if (payloads.length === 0) return undefined;
    const first = this.position(channel, payloads[0] as string, kind);
    if (kind === 'entry') for (let i = 1; i < payloads.length; i++) this.of(channel).append(payloads[i] as string);
    return first;
  }

  read(channel: string, after: LogCursor | undefined): LogRead {
    return this.of(channel).read(after);
  }
}

export interface LogCursor {
  readonly epoch: string;
  readonly seq: number;
}

/** The position of each of `count` payloads relayed together, `first` being the first's: entries count up, marks all carry the head. */
export function positionAt(first: DeliveredPosition, index: number): DeliveredPosition {
  return first.entry && index > 0 ? { epoch: first.epoch, seq: first.seq + index, entry: true } : first;
}

// ---------------------------------------------------------------------------
// Checks of IPC input: anything malformed is undefined, and dropped.

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** A log read as a worker asks for it: `{ read: id, channel, after: { epoch, seq } | null }`. */
export function parseReadRequest(raw: Record<string, unknown>): { id: number; channel: string; after: LogCursor | undefined } | undefined {
  const { read: id, channel, after } = raw;
  if (!isCount(id) || typeof channel !== 'string') return undefined;
  if (after === null || after === undefined) return { id, channel, after: undefined };
  if (!isRecord(after) || typeof after['epoch'] !== 'string' || !isCount(after['seq'])) return undefined;
  return { id, channel, after: { epoch: after['epoch'], seq: after['seq'] } };
}

/** The position of a data message's first payload, as the relay sends it: `at: { epoch, seq, entry }`. Undefined when absent; null when malformed. */
export function parsePosition(at: unknown, count: number): DeliveredPosition | undefined | null {
  if (at === undefined) return undefined;
  if (!isRecord(at) || typeof at['epoch'] !== 'string' || at['epoch'] === '' || !isCount(at['seq']) || typeof at['entry'] !== 'boolean') return null;
  const { epoch, seq, entry } = at as { epoch: string; seq: number; entry: boolean };
  if (entry && (seq === 0 || !Number.isSafeInteger(seq + count))) return null;
  return { epoch, seq, entry };
}

/** The relay's answer to a read: `{ answer: id, log: LogRead }` or `{ answer: id, error }`. */
export function parseReadAnswer(raw: Record<string, unknown>): { id: number; outcome: LogRead | Error } | undefined {
  const { answer: id, log, error } = raw;
  if (!isCount(id)) return undefined;
  if (typeof error === 'string') return { id, outcome: new Error(`coherent-cache: the cluster relay could not read its log: ${error.slice(0, 200)}`) };
  return { id, outcome: checkedRead(log) ?? new Error('coherent-cache: the cluster relay answered a log read with a malformed message') };
}

function checkedRead(log: unknown): LogRead | undefined {
  if (!isRecord(log) || typeof log['epoch'] !== 'string' || !isCount(log['head']) || typeof log['covered'] !== 'boolean' || !Array.isArray(log['entries'])) return undefined;
  const entries: { seq: number; payload: string }[] = [];
  const given = log['entries'] as unknown[];
  // An indexed loop: a sparse array's holes fail the check too.
  for (let i = 0; i < given.length; i++) {
    const entry = given[i];
    if (!isRecord(entry) || !isCount(entry['seq']) || typeof entry['payload'] !== 'string') return undefined;
    entries.push({ seq: entry['seq'], payload: entry['payload'] });
  }
  return { epoch: log['epoch'], head: log['head'], covered: log['covered'], entries };
}

// ---------------------------------------------------------------------------

/** A log read got no answer from the relay within `readTimeout`: it is stalled, busy or gone. */
export class LogReadTimeoutError extends Error {
  override readonly name = 'LogReadTimeoutError';
  constructor(timeoutMs: number) {
    super(`coherent-cache: the cluster relay did not answer a log read within ${timeoutMs} ms`);
  }
}

/** A worker's reads waiting for the relay's answer, each failing on its own timer (reads are rare: a repair each). */
export class PendingReads {
  private readonly waiting = new Map<number, { resolve: (read: LogRead) => void; reject: (error: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  private nextId = 1;

  /** Sends the request that `message(id)` builds with `send`, and waits for its answer. */
  request(send: (message: object) => Promise<void>, message: (id: number) => object, timeoutMs: number): Promise<LogRead> {
    const id = this.nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<LogRead>();
    const timer = setTimeout(() => this.settle(id, new LogReadTimeoutError(timeoutMs)), timeoutMs);
    // Never what keeps a worker alive: its IPC channel does that.
    timer.unref();
    this.waiting.set(id, { resolve, reject, timer });
    send(message(id)).catch((error: unknown) => this.settle(id, error instanceof Error ? error : new Error(String(error))));
    return promise;
  }

  /** Settles read `id` (an answer nobody waits for any more, or a forged one, is dropped). */
  settle(id: number, outcome: LogRead | Error): void {
    const pending = this.waiting.get(id);
    if (pending === undefined) return;
    this.waiting.delete(id);
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  /** Fails every read in flight: the relay that would answer went away. */
  failAll(error: Error): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, error);
  }
}
