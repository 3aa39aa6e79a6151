/**
 * Acknowledged invalidations: `invalidate(key, { ack: 'all' })` (and
 * `invalidateAll`, `invalidateTag`, `expire`, `expireTag`, a namespace's
 * `invalidateAll`) waits for every peer live at the call (known by its
 * heartbeats) to confirm it applied the invalidation. A confirmation is an `ack` message naming the request; one channel
 * delivers a publisher's messages in order (and a peer that lost messages
 * drops what they invalidated, by repair or resync, confirming nothing
 * meanwhile), so an ack of request n confirms that peer's earlier requests too. A peer lost while a request waits (not heard
 * for 2 × degradedTtl, so its own lease lapsed long ago) is no longer waited
 * for; one that joins later is not, since it could not have held the old value
 * past the call. The verification of sampled hits is decided here too.
 */
import type { AckRequestedEvent } from './coherence-events.ts';
import type { AckTimeoutCommand, InvalidateCommand, ReceiveCommand, VerifyCommand } from './commands.ts';
import { nothing, type Decision } from './decision.ts';
import type { AckOperation, Effect } from './effects.ts';
import type { CacheEvent } from './events.ts';
import type { AckWait, CacheState } from './state.ts';

/** The decision of an invalidation (already made) plus its request for confirmation: the publish carries the request id. */
export function requestAcks<V>(state: CacheState<V>, decision: Decision<V>, command: InvalidateCommand, timeoutMs: number): Decision<V> {
  const { at } = command;
  const requestId = state.lastAckId + 1;
  const peers = [...state.peers.keys()].sort();
  const events: CacheEvent<V>[] = [...decision.events, { type: 'ack.requested', at, requestId, ...scopeOf(command), peers, timeoutMs }];
  const effects: Effect<V>[] = decision.effects.map((effect) => (effect.type === 'publish' ? { ...effect, ack: requestId } : effect));
  const key = command.scope === 'key' ? command.key : undefined;
  const operation = operationOf(command);
  effects.push(operation === undefined ? { type: 'arm-ack-timeout', requestId, afterMs: timeoutMs, key } : { type: 'arm-ack-timeout', requestId, afterMs: timeoutMs, key, operation });
  if (peers.length === 0) {
    // Nobody to wait for: done once the message is accepted (the caller also waits for that).
    events.push({ type: 'ack.completed', at, requestId, lost: [] });
    effects.push({ type: 'settle-ack', requestId, missing: [] });
  }
  return { events, effects };
}

/** What `ack.requested` names of the invalidation: its scope, its key, tag or prefix, and whether it was soft. */
function scopeOf(command: InvalidateCommand): Pick<AckRequestedEvent, 'scope' | 'key' | 'tag' | 'prefix' | 'soft'> {
  const soft = command.scope !== 'key' && command.scope !== 'tag' ? {} : command.soft === true ? { soft: true as const } : {};
  switch (command.scope) {
    case 'key':
      return { scope: 'key', key: command.key, ...soft };
    case 'tag':
      return { scope: 'tag', tag: command.tag, ...soft };
    case 'prefix':
      return { scope: 'prefix', prefix: command.prefix };
    case 'all':
      return { scope: 'all' };
  }
}

/** The call a request came from, for its AckTimeoutError; undefined for `invalidate(key)` and `invalidateAll()`. */
function operationOf(command: InvalidateCommand): AckOperation | undefined {
  if (command.scope === 'prefix') return 'namespace invalidateAll';
  if (command.scope === 'tag') return command.soft === true ? 'expireTag' : 'invalidateTag';
  return command.scope === 'key' && command.soft === true ? 'expire' : undefined;
}

/** A peer's ack message: for this instance, it confirms every waiting request up to the one it names. */
export function decideAck<V>(state: CacheState<V>, command: ReceiveCommand): Decision<V> {
  const { message, at } = command;
  if (!message.ok || message.to !== state.policy.instanceId || message.ack === undefined || state.acks.size === 0) return nothing();
  const instance = message.remote.instance;
  const events: CacheEvent<V>[] = [];
  const effects: Effect<V>[] = [];
  for (const [requestId, wait] of state.acks) {
    if (requestId > message.ack || !wait.awaiting.has(instance)) continue;
    events.push({ type: 'ack.confirmed', at, requestId, instance });
    if (wait.awaiting.size === 1 && outlivedLostPeers(state, wait, at)) {
      events.push({ type: 'ack.completed', at, requestId, lost: [...wait.lost] });
      effects.push({ type: 'settle-ack', requestId, missing: [] });
    }
  }
  return { events, effects };
}

/** A request's timeout: the peers still awaited are named (its caller's error names them too). */
export function decideAckTimeout<V>(state: CacheState<V>, command: AckTimeoutCommand): Decision<V> {
  const wait = state.acks.get(command.requestId);
  if (wait === undefined) return nothing();
  // Lost peers that never confirmed count as missing until the request outlived what they may still serve.
  const missing = [...wait.awaiting, ...(outlivedLostPeers(state, wait, command.at) ? [] : wait.lost)].sort();
  return {
    events: [{ type: 'ack.timedout', at: command.at, requestId: command.requestId, missing }],
    effects: [{ type: 'settle-ack', requestId: command.requestId, missing }],
  };
}

/**
 * After a heartbeat's decision: a request whose remaining peers are all lost
 * (now, or before) completes, once degradedTtl has passed since it was made
 * (until then a lost peer may still serve what it read before the call).
 */
export function completeWithLostPeers<V>(state: CacheState<V>, decision: Decision<V>): Decision<V> {
  if (state.acks.size === 0) return decision;
  const lost = new Set<string>();
  for (const event of decision.events) if (event.type === 'peer.lost') lost.add(event.instance);
  const events = [...decision.events];
  const effects = [...decision.effects];
  const at = events[0]?.at ?? 0;
  for (const [requestId, wait] of state.acks) {
    if (![...wait.awaiting].every((instance) => lost.has(instance))) continue;
    if (wait.awaiting.size === 0 && wait.lost.length === 0) continue;
    if (!outlivedLostPeers(state, wait, at, wait.awaiting.size > 0)) continue;
    events.push({ type: 'ack.completed', at, requestId, lost: [...wait.lost, ...[...wait.awaiting].sort()] });
    effects.push({ type: 'settle-ack', requestId, missing: [] });
  }
  return { events, effects };
}

/** Whether no peer lost while `wait` waited (or being lost now) can still serve what it read before the request. */
function outlivedLostPeers<V>(state: CacheState<V>, wait: AckWait, at: number, losingNow = false): boolean {
  return (wait.lost.length === 0 && !losingNow) || at >= wait.requestedAt + state.policy.degradedTtl;
}

/** A judged verification becomes its event (the comparison itself ran in the shell). */
export function decideVerify<V>(command: VerifyCommand): Decision<V> {
  const { at, outcome } = command;
  if (outcome === 'violation') return { events: [{ type: 'coherence.violation', at, key: command.key, hitAt: command.hitAt }], effects: [] };
  return { events: [{ type: 'verified', at, outcome }], effects: [] };
}
