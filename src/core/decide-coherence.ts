/**
 * Decisions that keep this instance coherent with its peers: which received
 * messages apply; the lease its own heartbeats renew (entries are served only
 * while it has heard its channel within `degradedTtl`, so staleness never
 * waits for a fault to be detected); what a change of link means for the
 * entries; and what happens to invalidations whose publish failed (a bounded,
 * de-duplicated retry queue that overflows into one clear, retried when it can
 * succeed).
 */
import type { AbandonCommand, BeatCommand, LinkCommand, PublishSettledCommand, ReceiveCommand, RetryCommand } from './commands.ts';
import { nothing, type Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent, LinkReason } from './events.ts';
import type { CacheState } from './state.ts';

/** A payload from the channel: rejected when undecodable or for another cache, its own heartbeat renews the lease, a peer's invalidation applies. */
export function decideReceive<V>(state: CacheState<V>, command: ReceiveCommand): Decision<V> {
  const { message, at } = command;
  if (!message.ok) return { events: [{ type: 'message.rejected', at, reason: message.reason, detail: message.detail }], effects: [] };
  if (message.cache !== state.policy.name) {
    return { events: [{ type: 'message.rejected', at, reason: 'other-cache', detail: `for cache ${JSON.stringify(message.cache.slice(0, 32))}` }], effects: [] };
  }
  const { remote } = message;
  const own = remote.instance === state.policy.instanceId;
  if (message.op === 'beat') {
    if (own) return remote.sentAt === undefined ? nothing() : renewLease(state, at, remote.sentAt);
    return { events: [{ type: 'peer.heard', at, instance: remote.instance }], effects: [] };
  }
  // Its own message, or the legacy copy of what a v1 peer already said in the current format (heard once).
  if (own || (message.legacy && state.peers.has(remote.instance))) return nothing();
  // Peers are known by their heartbeats; an invalidation adds no event for that (it is on the path the bound is measured on).
  const events: CacheEvent<V>[] = [
    { type: 'message.received', at, channel: command.channel, format: message.legacy ? 'legacy' : 'v1', op: message.op, keys: message.keys.length, remote },
  ];
  if (message.op === 'clear') {
    events.push({ type: 'invalidated', scope: 'all', at, origin: 'remote', reason: 'explicit', remote });
  } else {
    for (const key of message.keys) events.push({ type: 'invalidated', scope: 'key', key, at, origin: 'remote', reason: 'explicit', remote });
  }
  return { events, effects: [] };
}

/**
 * Its own heartbeat, sent at `provenAt`, came back: every message published
 * before then has reached this instance (one channel delivers in order), so
 * entries may be served until provenAt + degradedTtl. A lapsed lease is
 * regained this way, with no resync unless a connection dropped meanwhile.
 */
function renewLease<V>(state: CacheState<V>, at: number, provenAt: number): Decision<V> {
  const until = provenAt + state.policy.degradedTtl;
  if (until <= at) return nothing();
  if (state.link === 'connected') return until > state.leaseUntil ? { events: [{ type: 'lease.renewed', at, provenAt, until }], effects: [] } : nothing();
  if (state.link === 'local') return nothing();
  return connect(state, at, 'lease-renewed', until);
}

/**
 * The transport's status. Subscribed, this instance connects under a lease
 * counted from now (the subscription is its first proof) and sends a
 * heartbeat; lost, it degrades: entries live at most degradedTtl past the
 * last moment it knew it heard everything.
 */
export function decideLink<V>(state: CacheState<V>, command: LinkCommand): Decision<V> {
  const { at } = command;
  if (command.status === 'connected') return state.link === 'connected' ? nothing() : connect(state, at, 'connected', at + state.policy.degradedTtl);
  if (state.link === 'local') return command.reason === 'starting' ? degrade(state, at, 'starting', at) : nothing();
  // Already degraded: only a first sign that messages may have been lost changes anything.
  if (state.link === 'degraded' && state.gap) return nothing();
  return degrade(state, at, command.reason, state.link === 'degraded' ? (state.degradedSince ?? at) : state.leaseUntil - state.policy.degradedTtl);
}

/**
 * The heartbeat timer: a lapsed lease degrades the link (the hit path already
 * stopped serving at its end), peers unheard for 2 × degradedTtl are no
 * longer counted, and a heartbeat proves the channel again.
 */
export function decideBeat<V>(state: CacheState<V>, command: BeatCommand): Decision<V> {
  if (state.link === 'local') return nothing();
  const { at } = command;
  const events: CacheEvent<V>[] = [];
  if (state.link === 'connected' && at >= state.leaseUntil) events.push(...degrade(state, at, 'lease-expired', state.leaseUntil - state.policy.degradedTtl).events);
  const forgetBefore = at - 2 * state.policy.degradedTtl;
  for (const [instance, heardAt] of state.peers) if (heardAt < forgetBefore) events.push({ type: 'peer.lost', at, instance });
  return { events, effects: [{ type: 'send-beat' }] };
}

function connect<V>(state: CacheState<V>, at: number, reason: LinkReason, leaseUntil: number): Decision<V> {
  const events: CacheEvent<V>[] = [{ type: 'link.changed', at, state: 'connected', reason, leaseUntil }];
  // Anything cached or loading across a gap may have missed an invalidation.
  if (state.gap && (state.entries.size > 0 || state.loads.size > 0)) events.push({ type: 'invalidated', scope: 'all', at, origin: 'local', reason: 'resync' });
  const queue = state.retryQueue;
  const effects: Effect<V>[] = queue.clear || queue.keys.size > 0 ? [{ type: 'flush' }] : [];
  if (reason === 'connected') effects.push({ type: 'send-beat' });
  return { events, effects };
}

function degrade<V>(state: CacheState<V>, at: number, reason: LinkReason, since: number): Decision<V> {
  const heardUntil = Math.min(since, at);
  return {
    events: [{ type: 'link.changed', at, state: 'degraded', reason, since: heardUntil, entriesExpireBy: heardUntil + state.policy.degradedTtl }],
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

/** A retry is due (its timer, or the transport can publish again): send the queue if anything waits. */
export function decideRetry<V>(state: CacheState<V>, _command: RetryCommand): Decision<V> {
  const queue = state.retryQueue;
  return queue.clear || queue.keys.size > 0 ? { events: [], effects: [{ type: 'flush' }] } : nothing();
}

/** `close()` ran out of time: what still waits is given up, named by the event (and by close()'s error). */
export function decideAbandon<V>(state: CacheState<V>, command: AbandonCommand): Decision<V> {
  const queue = state.retryQueue;
  if (!queue.clear && queue.keys.size === 0) return nothing();
  return { events: [{ type: 'publish.abandoned', at: command.at, keys: queue.clear ? [] : [...queue.keys], clear: queue.clear }], effects: [] };
}
