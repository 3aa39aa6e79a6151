/** How acknowledged invalidations fold into the state: a request's waits, confirmations, and its end. */
import type { AckCompletedEvent, AckConfirmedEvent, AckDeferredEvent, AckRequestedEvent, AckTimedOutEvent } from './coherence-events.ts';
import type { CacheState } from './state.ts';

export function evolveAck<V>(state: CacheState<V>, event: AckRequestedEvent | AckConfirmedEvent | AckCompletedEvent | AckTimedOutEvent | AckDeferredEvent): CacheState<V> {
  switch (event.type) {
    case 'ack.deferred':
      state.owedAcks.set(event.to, Math.max(event.ack, state.owedAcks.get(event.to) ?? 0));
      return state;
    case 'ack.requested':
      state.acks.set(event.requestId, { awaiting: new Set(event.peers), lost: [], requestedAt: event.at });
      if (event.requestId > state.lastAckId) state.lastAckId = event.requestId;
      return state;
    case 'ack.confirmed':
      state.acks.get(event.requestId)?.awaiting.delete(event.instance);
      return state;
    case 'ack.completed':
    case 'ack.timedout':
      state.acks.delete(event.requestId);
      return state;
  }
}

/** A peer lost while requests wait for it: no longer waited for (it stopped serving when its lease lapsed). */
export function forgetLostPeer<V>(state: CacheState<V>, instance: string): void {
  for (const wait of state.acks.values()) if (wait.awaiting.delete(instance)) wait.lost.push(instance);
}
