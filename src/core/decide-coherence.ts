/**
 * Decisions that keep this instance coherent with its peers: which received
 * messages apply, what a change of link means for the entries, and what
 * happens to invalidations whose publish failed (a bounded, de-duplicated
 * retry queue that overflows into one clear, retried when the link returns
 * and on a timer).
 */
import type { LinkCommand, PublishSettledCommand, ReceiveCommand, RetryCommand } from './commands.ts';
import { nothing, type Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent } from './events.ts';
import type { CacheState } from './state.ts';

/** A payload from the channel: rejected when undecodable or for another cache, skipped when it is our own, else applied. */
export function decideReceive<V>(state: CacheState<V>, command: ReceiveCommand): Decision<V> {
  const { message, at } = command;
  if (!message.ok) return { events: [{ type: 'message.rejected', at, reason: message.reason, detail: message.detail }], effects: [] };
  if (message.cache !== state.policy.name) {
    return { events: [{ type: 'message.rejected', at, reason: 'other-cache', detail: `for cache ${JSON.stringify(message.cache.slice(0, 32))}` }], effects: [] };
  }
  const { remote } = message;
  if (remote.instance === state.policy.instanceId) return nothing();
  const events: CacheEvent<V>[] = [{ type: 'message.received', at, channel: command.channel, op: message.op, keys: message.keys.length, remote }];
  if (message.op === 'clear') {
    events.push({ type: 'invalidated', scope: 'all', at, origin: 'remote', reason: 'explicit', remote });
  } else {
    for (const key of message.keys) events.push({ type: 'invalidated', scope: 'key', key, at, origin: 'remote', reason: 'explicit', remote });
  }
  return { events, effects: [] };
}

/**
 * Losing the link caps every entry's life at `degradedTtl`; regaining it drops
 * everything cached or loading meanwhile (messages may have been lost in the
 * gap) and sends what waits in the retry queue.
 */
export function decideLink<V>(state: CacheState<V>, command: LinkCommand): Decision<V> {
  const { at } = command;
  if (command.status === 'connected') {
    if (state.link === 'connected') return nothing();
    const events: CacheEvent<V>[] = [{ type: 'link.changed', at, state: 'connected', reason: 'connected' }];
    if (state.entries.size > 0 || state.loads.size > 0) events.push({ type: 'invalidated', scope: 'all', at, origin: 'local', reason: 'resync' });
    const queue = state.retryQueue;
    return { events, effects: queue.clear || queue.keys.size > 0 ? [{ type: 'flush' }] : [] };
  }
  if (state.link === 'degraded' || (state.link === 'local' && command.reason !== 'starting')) return nothing();
  return {
    events: [{ type: 'link.changed', at, state: 'degraded', reason: command.reason, entriesExpireBy: at + state.policy.degradedTtl }],
    effects: [],
  };
}

/** A publish that failed keeps its keys for a retry; past `maxQueuedKeys`, one clear replaces them all (never a key lost silently). */
export function decidePublishSettled<V>(state: CacheState<V>, command: PublishSettledCommand): Decision<V> {
  const { at, keys, clear, traceparent } = command;
  if (command.errorName === undefined) {
    const published: CacheEvent<V> =
      traceparent === undefined
        ? { type: 'published', at, messages: command.messages, keys, clear }
        : { type: 'published', at, messages: command.messages, keys, clear, traceparent };
    return { events: [published], effects: [] };
  }
  const queue = state.retryQueue;
  let overflowed = false;
  if (!clear && !queue.clear) {
    let size = queue.keys.size;
    for (const key of keys) if (!queue.keys.has(key)) size++;
    overflowed = size > state.policy.maxQueuedKeys;
  }
  const failed: CacheEvent<V> =
    traceparent === undefined
      ? { type: 'publish.failed', at, keys, clear, errorName: command.errorName, overflowed }
      : { type: 'publish.failed', at, keys, clear, errorName: command.errorName, overflowed, traceparent };
  const effects: Effect<V>[] = [{ type: 'arm-retry', afterMs: state.policy.retryInterval }];
  return { events: [failed], effects };
}

/** The retry timer: send the queue if anything waits. */
export function decideRetry<V>(state: CacheState<V>, _command: RetryCommand): Decision<V> {
  const queue = state.retryQueue;
  return queue.clear || queue.keys.size > 0 ? { events: [], effects: [{ type: 'flush' }] } : nothing();
}
