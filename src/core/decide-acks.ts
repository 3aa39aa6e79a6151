/**
 * Acknowledged invalidations: `invalidate(key, { ack: 'all' })` waits for
 * every peer live at the call (known by its heartbeats) to confirm it dropped
 * the key. A confirmation is an `ack` message naming the request; one channel
 * delivers a publisher's messages in order (and a peer that lost messages
 * drops what they invalidated, by repair or resync, confirming nothing
 * meanwhile), so an ack of request n confirms that peer's earlier requests too. A peer lost while a request waits (not heard
 * for 2 × degradedTtl, so its own lease lapsed long ago) is no longer waited
 * for; one that joins later is not, since it could not have held the old value
 * past the call. The verification of sampled hits is decided here too.
 */
import type { AckTimeoutCommand, ReceiveCommand, VerifyCommand } from './commands.ts';
import { nothing, type Decision } from './decision.ts';
import type { Effect } from './effects.ts';
import type { CacheEvent } from './events.ts';
import type { AckWait, CacheState } from './state.ts';

/** The decision of an invalidation (already made) plus its request for confirmation: the publish carries the request id. */
export function requestAcks<V>(state: CacheState<V>, decision: Decision<V>, scope: 'key' | 'all', key: string | undefined, at: number, timeoutMs: number): Decision<V> {
  const requestId = state.lastAckId + 1;
  const peers = [...state.peers.keys()].sort();
  const requested: CacheEvent<V> =
    key === undefined ? { type: 'ack.requested', at, requestId, scope, peers, timeoutMs } : { type: 'ack.requested', at, requestId, scope, key, peers, timeoutMs };
  const events: CacheEvent<V>[] = [...decision.events, requested];
  const effects: Effect<V>[] = decision.effects.map((effect) => (effect.type === 'publish' && (effect.scope === 'key' || effect.scope === 'all') ? { ...effect, ack: requestId } : effect));
  effects.push({ type: 'arm-ack-timeout', requestId, afterMs: timeoutMs, key });
  if (peers.length === 0) {
    // Nobody to wait for: done once the message is accepted (the caller also waits for that).
    events.push({ type: 'ack.completed', at, requestId, lost: [] });
    effects.push({ type: 'settle-ack', requestId, missing: [] });
  }
  return { events, effects };
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
