/**
 * Decisions that keep this instance coherent with its peers: which received
 * messages apply; the lease its own heartbeats renew (entries are served only
 * while it has heard its channel within `degradedTtl`, so staleness never
 * waits for a fault to be detected); what a change of link means for the
 * entries; and what happens to invalidations whose publish failed (a bounded,
 * de-duplicated retry queue that overflows into one clear, retried when it can
 * succeed).
 */
import type { AbandonCommand, BeatCommand, LinkCommand, PublishSettledCommand, ReceiveCommand, ReceivedPosition, RetryCommand } from './commands.ts';
import { remoteInvalidations } from './decide-invalidate.ts';
import { afterConnect, gapAt, rejoinAfterGap, startRepair, withGapCheck, withPosition } from './decide-repair.ts';
import { decideAck } from './decide-acks.ts';
import { nothing, type Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent, LinkReason, MessageReceivedEvent, RemoteSource } from './events.ts';
import type { CacheState } from './state.ts';

/** A payload from the channel: rejected when undecodable or for another cache, its own heartbeat renews the lease, a peer's invalidation applies. */
export function decideReceive<V>(state: CacheState<V>, command: ReceiveCommand): Decision<V> {
  const { message, at } = command;
  // Positions count only where this instance keeps track of the log.
  const position = state.policy.logged ? command.position : undefined;
  if (!message.ok || message.cache !== state.policy.name) {
    const rejected: CacheEvent<V>[] = [
      message.ok
        ? { type: 'message.rejected', at, reason: 'other-cache', detail: `for cache ${JSON.stringify(message.cache.slice(0, 32))}` }
        : { type: 'message.rejected', at, reason: message.reason, detail: message.detail },
    ];
    return position === undefined ? { events: rejected, effects: [] } : withPosition(state, at, position, rejected);
  }
  const { remote } = message;
  const own = remote.instance === state.policy.instanceId;
  if (message.op === 'beat') return decideBeatHeard(state, at, own, remote, position);
  // Its own message, or the legacy copy of what a v1 peer already said in the current format (heard once).
  if (own || (message.legacy && state.peers.has(remote.instance))) return position === undefined ? nothing() : withPosition(state, at, position, []);
  if (message.op === 'ack') {
    const acked = decideAck(state, command);
    if (position === undefined) return acked;
    const positioned = withPosition(state, at, position, [...acked.events]);
    return { events: positioned.events, effects: [...acked.effects, ...positioned.effects] };
  }
  // Peers are known by their heartbeats; an invalidation adds no event for that (it is on the path the bound is measured on).
  const received: MessageReceivedEvent = { type: 'message.received', at, channel: command.channel, format: message.legacy ? 'legacy' : 'v1', op: message.op, keys: message.keys.length, remote };
  const events: CacheEvent<V>[] = [position === undefined ? received : { ...received, position: { epoch: position.epoch, seq: position.seq } }];
  remoteInvalidations(message, at, 'remote', 'explicit', remote, false, events);
  // Asked to confirm: once these events are folded, the key is dropped here.
  const effects: Effect<V>[] = message.ack === undefined ? [] : [{ type: 'send-ack', ack: message.ack, to: remote.instance }];
  const checked = position === undefined ? { events, effects } : withGapCheck(state, at, position, { events, effects });
  // While a repair may still have keys to drop (one under way, or the gap before this message), the confirmation waits for its end: it vouches for earlier requests too.
  if (message.ack === undefined || (state.repair === undefined && !checked.effects.some((effect) => effect.type === 'read-log'))) return checked;
  return {
    events: [...checked.events, { type: 'ack.deferred', at, to: remote.instance, ack: message.ack }],
    effects: checked.effects.filter((effect) => effect.type !== 'send-ack'),
  };
}

/**
 * A heartbeat. Its own renews the lease, unless its mark shows the log got
 * further than this instance applied (a message was lost: repair first) or a
 * repair is under way. A peer's says the peer is live, and its mark may show
 * a gap too; one without a mark, on a logged channel, means the log cannot
 * cover that peer's messages.
 */
function decideBeatHeard<V>(state: CacheState<V>, at: number, own: boolean, remote: RemoteSource, position: ReceivedPosition | undefined): Decision<V> {
  if (own) {
    if (position !== undefined && gapAt(state, position) !== undefined) return withGapCheck(state, at, position, nothing());
    if (state.repair !== undefined) return nothing();
    return remote.sentAt === undefined ? nothing() : renewLease(state, at, remote.sentAt);
  }
  const heard: CacheEvent<V> =
    state.policy.logged && position === undefined ? { type: 'peer.heard', at, instance: remote.instance, unlogged: true } : { type: 'peer.heard', at, instance: remote.instance };
  return position === undefined ? { events: [heard], effects: [] } : withGapCheck(state, at, position, { events: [heard], effects: [] });
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
  return state.gap ? rejoinAfterGap(state, at, 'lease-renewed', until) : connect(state, at, 'lease-renewed', until);
}

/**
 * The transport's status. Subscribed, this instance connects under a lease
 * counted from now (the subscription is its first proof) and sends a
 * heartbeat; lost, it degrades: entries live at most degradedTtl past the
 * last moment it knew it heard everything.
 */
export function decideLink<V>(state: CacheState<V>, command: LinkCommand): Decision<V> {
  const { at } = command;
  if (command.status === 'connected') {
    if (state.link === 'connected' || state.repair?.inFlight === true) return nothing();
    const leaseUntil = at + state.policy.degradedTtl;
    // A repair whose read failed still owes what the gap missed: the link waits for it, as after a gap.
    return state.gap || state.repair !== undefined ? rejoinAfterGap(state, at, 'connected', leaseUntil) : connect(state, at, 'connected', leaseUntil);
  }
  if (state.link === 'local') return command.reason === 'starting' ? degrade(state, at, 'starting', at) : nothing();
  // Already degraded: only a first sign that messages may have been lost changes anything.
  if (state.link === 'degraded' && state.gap && state.repair === undefined) return nothing();
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
  const effects: Effect<V>[] = [{ type: 'send-beat' }];
  // A repair whose read failed tries again.
  if (state.repair !== undefined && !state.repair.inFlight) {
    const retry = startRepair(state, at, state.repair.reason);
    events.push(...retry.events);
    effects.push(...retry.effects);
  }
  return { events, effects };
}

function connect<V>(state: CacheState<V>, at: number, reason: LinkReason, leaseUntil: number): Decision<V> {
  return { events: [{ type: 'link.changed', at, state: 'connected', reason, leaseUntil }], effects: afterConnect(state, reason) };
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
