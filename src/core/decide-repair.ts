/**
 * Repairing a gap from the channel's log, with a transport that keeps one.
 * Every logged message carries its position; a skipped position, a heartbeat
 * whose head is past what this instance applied, or a link that comes back
 * after a gap starts a repair: it reads the log from the last applied position
 * and drops only the keys invalidated in between. When the log cannot say
 * (trimmed, reset, a message without a position arrived, an entry cannot be
 * read) the repair drops everything, as a cache without a log always does.
 */
import type { DecodedMessage, EchoCommand, LogReadCommand, ReceivedPosition, UndecodableMessage } from './commands.ts';
import { nothing, type Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent, FullResyncCause, LinkReason, LogPosition, RepairReason } from './events.ts';
import { remoteInvalidations } from './decide-invalidate.ts';
import type { CacheState } from './state.ts';

/** What a received position says about the log: nothing missed, or why a repair must read it. */
export function gapAt<V>(state: CacheState<V>, position: ReceivedPosition): RepairReason | undefined {
  const cursor = state.log;
  if (cursor === undefined) return undefined;
  if (position.epoch !== cursor.epoch) return 'log-reset';
  // An entry must follow the last one applied; a mark (a heartbeat) says how far the log had got when it was sent.
  return position.seq > cursor.applied + (position.entry ? 1 : 0) ? 'lost-message' : undefined;
}

/** A repair reading the log from where this instance stands (nothing when one is already reading). */
export function startRepair<V>(state: CacheState<V>, at: number, reason: RepairReason): Decision<V> {
  if (state.repair?.inFlight === true) return nothing();
  const repairId = state.lastRepairId + 1;
  const cursor = state.log;
  const after: LogPosition | undefined = cursor === undefined ? undefined : { epoch: cursor.epoch, seq: cursor.applied };
  const started: CacheEvent<V> = after === undefined ? { type: 'repair.started', at, repairId, reason } : { type: 'repair.started', at, repairId, reason, after };
  return { events: [started], effects: [{ type: 'read-log', repairId, after }] };
}

/** The echo of its own invalidation: the log is applied past it, unless it shows a gap before it. */
export function decideEcho<V>(state: CacheState<V>, command: EchoCommand): Decision<V> {
  if (!state.policy.logged) return nothing();
  return withPosition(state, command.at, command.position, []);
}

/**
 * Events for a positioned payload that changed nothing else (its own, one
 * rejected, one for another cache): the log advances past it, and a gap
 * before it starts a repair.
 */
export function withPosition<V>(state: CacheState<V>, at: number, position: ReceivedPosition, events: CacheEvent<V>[]): Decision<V> {
  if (position.entry) events.push({ type: 'log.advanced', at, position: { epoch: position.epoch, seq: position.seq } });
  return withGapCheck(state, at, position, { events, effects: [] });
}

/** Appends the repair a gap before `position` calls for to `decision`. */
export function withGapCheck<V>(state: CacheState<V>, at: number, position: ReceivedPosition, decision: Decision<V>): Decision<V> {
  const reason = gapAt(state, position);
  if (reason === undefined) return decision;
  const repair = startRepair(state, at, reason);
  return { events: [...decision.events, ...repair.events], effects: [...decision.effects, ...repair.effects] };
}

/**
 * The link is back after a gap. Without a log, everything cached may have
 * missed an invalidation: it is dropped and the link connects at once. With
 * one, the link stays degraded (entries keep their degraded bound) while the
 * log is read; the read's answer connects it.
 */
export function rejoinAfterGap<V>(state: CacheState<V>, at: number, reason: LinkReason, leaseUntil: number): Decision<V> {
  if (!state.policy.logged) {
    const events: CacheEvent<V>[] = [{ type: 'link.changed', at, state: 'connected', reason, leaseUntil }];
    const anything = state.entries.size > 0 || state.loads.size > 0;
    if (anything || state.wasConnected) events.push(...fullResync(state, at, state.wasConnected ? 'no-log' : 'starting', undefined));
    return { events, effects: afterConnect(state, reason) };
  }
  const repair = startRepair(state, at, state.log === undefined ? 'starting' : 'reconnected');
  return { events: repair.events, effects: [...repair.effects, ...afterConnect(state, reason)] };
}

/** What connecting asks of the shell: send what waits for a retry, and prove the channel with a heartbeat. */
export function afterConnect<V>(state: CacheState<V>, reason: LinkReason): Effect<V>[] {
  const queue = state.retryQueue;
  const effects: Effect<V>[] = queue.clear || queue.keys.size > 0 ? [{ type: 'flush' }] : [];
  if (reason === 'connected') effects.push({ type: 'send-beat' });
  return effects;
}

/**
 * The log read answered. Covered, only the keys its entries invalidated are
 * dropped, and entries degraded meanwhile get their own expiries back;
 * otherwise everything is dropped. Either way the cursor moves to the head
 * read, and a link that waited for the repair connects, under a lease counted
 * from when the successful read was asked for (everything published before
 * then is applied).
 */
export function decideLogRead<V>(state: CacheState<V>, command: LogReadCommand): Decision<V> {
  const repair = state.repair;
  if (repair === undefined || repair.repairId !== command.repairId) return nothing();
  const { at } = command;
  if (!command.ok) return { events: [{ type: 'repair.failed', at, repairId: command.repairId, errorName: command.errorName }], effects: [] };
  const head: LogPosition = { epoch: command.epoch, seq: command.head };
  const cause = fullCause(state, command);
  const events = cause === undefined ? exactResync(state, at, head, command.entries) : fullResync(state, at, cause, head);
  const leaseUntil = repair.attemptAt + state.policy.degradedTtl;
  if (state.link !== 'connected') events.push({ type: 'link.changed', at, state: 'connected', reason: 'connected', leaseUntil });
  else if (leaseUntil > state.leaseUntil && leaseUntil > at) events.push({ type: 'lease.renewed', at, provenAt: repair.attemptAt, until: leaseUntil });
  const queue = state.retryQueue;
  const effects: Effect<V>[] = state.link !== 'connected' && (queue.clear || queue.keys.size > 0) ? [{ type: 'flush' }] : [];
  // What the gap missed is dropped now: the confirmations held meanwhile can go.
  for (const [to, ack] of state.owedAcks) effects.push({ type: 'send-ack', ack, to });
  return { events, effects };
}

/** Why the read cannot repair exactly, or undefined when it can. */
function fullCause<V>(state: CacheState<V>, read: Extract<LogReadCommand, { ok: true }>): FullResyncCause | undefined {
  const cursor = state.log;
  if (cursor === undefined) return 'starting';
  // Another epoch: the log started again. (A head behind the cursor is not one: messages published after the read may have come first.)
  if (cursor.epoch !== read.epoch) return 'log-reset';
  if (state.unlogged) return 'unlogged';
  if (!read.covered) return 'log-trimmed';
  if (read.entries.some((entry) => !entry.ok)) return 'undecodable';
  return undefined;
}

/**
 * Applies what the gap missed: keys dropped, and tags and namespaces as their
 * messages say, but hard: a value soft-invalidated in the gap is dropped, not
 * kept stale (the gap already used the time the bound allows a stale value).
 */
function exactResync<V>(state: CacheState<V>, at: number, head: LogPosition, entries: readonly (DecodedMessage | UndecodableMessage)[]): CacheEvent<V>[] {
  const { name, instanceId } = state.policy;
  const keys = new Set<string>();
  const scoped: CacheEvent<V>[] = [];
  let clear = false;
  for (const entry of entries) {
    // Its own invalidations were applied when they were made; another cache's are not its business.
    if (!entry.ok || entry.cache !== name || entry.remote.instance === instanceId) continue;
    if (entry.op === 'clear') clear = true;
    else if (entry.op === 'del' || entry.op === 'expire') for (const key of entry.keys) keys.add(key);
    else remoteInvalidations(entry, at, 'remote', 'resync', undefined, true, scoped);
  }
  const events: CacheEvent<V>[] = [];
  let dropped = 0;
  if (clear) {
    dropped = state.entries.liveCount;
    events.push({ type: 'invalidated', scope: 'all', at, origin: 'remote', reason: 'resync' });
  } else {
    const entryTable = state.entries;
    for (const key of keys) {
      const slot = entryTable.slot(key);
      const live = slot !== undefined && entryTable.hasValue(slot);
      if (live) dropped++;
      if (live || state.loads.has(key)) events.push({ type: 'invalidated', scope: 'key', key, at, origin: 'remote', reason: 'resync' });
    }
    dropped += droppedBy(state, scoped);
    events.push(...scoped);
  }
  events.push({ type: 'resynced', at, mode: 'exact', head, missed: entries.length, keys: keys.size + scoped.length, dropped, kept: state.entries.liveCount - dropped });
  return events;
}

/** The values tag and namespace invalidations will drop (a key the gap also named by itself counts twice). */
function droppedBy<V>(state: CacheState<V>, events: readonly CacheEvent<V>[]): number {
  const entries = state.entries;
  const keys = new Set<string>();
  for (const event of events) {
    if (event.type !== 'invalidated') continue;
    const named = event.scope === 'tag' ? state.tags.keysOf(event.tag) : event.scope === 'prefix' ? entries.keysWithPrefix(event.prefix) : [];
    for (const key of named) keys.add(key);
  }
  let dropped = 0;
  for (const key of keys) {
    const slot = entries.slot(key);
    if (slot !== undefined && entries.hasValue(slot)) dropped++;
  }
  return dropped;
}

/** Everything cached or loading may have missed an invalidation: all of it goes. */
export function fullResync<V>(state: CacheState<V>, at: number, cause: FullResyncCause, head: LogPosition | undefined): CacheEvent<V>[] {
  const events: CacheEvent<V>[] = [];
  const dropped = state.entries.liveCount;
  if (state.entries.size > 0 || state.loads.size > 0) events.push({ type: 'invalidated', scope: 'all', at, origin: 'local', reason: 'resync' });
  events.push(
    head === undefined
      ? { type: 'resynced', at, mode: 'full', cause, missed: 0, keys: 0, dropped, kept: 0 }
      : { type: 'resynced', at, mode: 'full', cause, head, missed: 0, keys: 0, dropped, kept: 0 },
  );
  return events;
}
