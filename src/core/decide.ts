/**
 * `decide(state, command)`: every policy of the cache in one place. It reads
 * the state and the command (which carries its time) and returns the events
 * that happen and the effects the shell must run; it changes nothing itself.
 * Reads, writes and local invalidations are decided here; settled loads in
 * decide-loads.ts; the link, messages and publishes in decide-coherence.ts.
 */
import type { ClearCommand, Command, ReadCommand, SetCommand } from './commands.ts';
import { decideAbandon, decideBeat, decideLink, decidePublishSettled, decideReceive, decideRetry } from './decide-coherence.ts';
import { completeWithLostPeers, decideAckTimeout, decideVerify } from './decide-acks.ts';
import { decideInvalidate } from './decide-invalidate.ts';
import { decideLoadSettled, decideLoadTimeout } from './decide-loads.ts';
import { decideHit, decideStaleRead, staleFor } from './decide-stale.ts';
import { decideEcho, decideLogRead } from './decide-repair.ts';
import type { Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent, MissReason } from './events.ts';
import { freshSlot, joinableLoad, type CacheState } from './state.ts';
import { storeEvents } from './store.ts';

export type { Decision } from './decision.ts';

export function decide<V>(state: CacheState<V>, command: Command<V>): Decision<V> {
  switch (command.type) {
    case 'read':
      return decideRead(state, command);
    case 'set':
      return decideSet(state, command);
    case 'invalidate':
      return decideInvalidate(state, command);
    case 'clear':
      return decideClear(command);
    case 'receive':
      return decideReceive(state, command);
    case 'link':
      return decideLink(state, command);
    case 'load.settled':
      return decideLoadSettled(state, command);
    case 'load.timeout':
      return decideLoadTimeout(state, command);
    case 'publish.settled':
      return decidePublishSettled(state, command);
    case 'retry':
      return decideRetry(state, command);
    case 'beat':
      return completeWithLostPeers(state, decideBeat(state, command));
    case 'abandon':
      return decideAbandon(state, command);
    case 'echo':
      return decideEcho(state, command);
    case 'log.read':
      return decideLogRead(state, command);
    case 'ack.timeout':
      return decideAckTimeout(state, command);
    case 'verify':
      return decideVerify(command);
    default:
      return assertNever(command);
  }
}

/**
 * A read: a hit serves the fresh value (and may start a refresh); a miss says
 * why, is answered at once inside a stale-while-revalidate window
 * (decide-stale.ts), drops an entry past its stale windows, and then joins the
 * key's load in flight or starts one. A load that an invalidation or a newer value fenced is never joined: a
 * read that began after the invalidation must not get what was loaded before it.
 */
function decideRead<V>(state: CacheState<V>, command: ReadCommand): Decision<V> {
  const { key, at } = command;
  const slot = freshSlot(state, key, at);
  if (slot !== -1) return decideHit(state, command, slot);
  const events: CacheEvent<V>[] = [];
  const entries = state.entries;
  const existing = entries.slot(key);
  let reason: MissReason = 'absent';
  if (existing !== undefined) {
    if (!entries.hasValue(existing)) {
      reason = 'invalidated';
    } else {
      // A value made stale by expire waits for its load: only a failed one may serve it (staleIfError).
      const stale = entries.isStale(existing) ? undefined : decideStaleRead(state, command, existing);
      if (stale !== undefined) return stale;
      reason = 'expired';
      if (entries.expiresAt(existing) + staleFor(state, existing) <= at) events.push({ type: 'expired', key, at });
    }
  }
  events.push({ type: 'miss', key, at, reason });
  const joinable = command.sync ? undefined : joinableLoad(state, key, at);
  if (joinable !== undefined) {
    events.push({ type: 'load.joined', key, at, loadId: joinable.loadId });
    return { events, effects: [{ type: 'join-load', key, loadId: joinable.loadId }] };
  }
  const loadId = state.lastLoadId + 1;
  const swr = command.staleWhileRevalidate;
  events.push({ type: 'load.started', key, at, loadId, ttl: command.ttl, sync: command.sync, ...(swr === undefined ? {} : { staleWhileRevalidate: swr }) });
  const start: Effect<V> = { type: 'start-load', key, loadId, sync: command.sync };
  const { loadTimeout } = state.policy;
  if (command.sync || loadTimeout === undefined) return { events, effects: [start] };
  return { events, effects: [{ type: 'arm-load-timeout', key, loadId, afterMs: loadTimeout }, start] };
}

function decideSet<V>(state: CacheState<V>, command: SetCommand<V>): Decision<V> {
  const own = { staleWhileRevalidate: command.staleWhileRevalidate };
  return { events: storeEvents(state, command.key, command.value, command.ttl, command.at, command.at, 'set', command.size, own, command.tags), effects: [] };
}

function decideClear<V>(command: ClearCommand): Decision<V> {
  return { events: [{ type: 'cleared', at: command.at }], effects: [] };
}

function assertNever(command: never): never {
  throw new Error(`decide: unknown command ${JSON.stringify(command)}`);
}
