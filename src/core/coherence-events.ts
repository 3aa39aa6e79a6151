/**
 * Events of the two coherence checks that go beyond invalidating: an
 * invalidation the peers must confirm (`invalidate(key, { ack: 'all' })`),
 * and the verification of sampled hits against their loader (`verify`).
 */

/**
 * `invalidate(…, { ack: 'all' })`: request `requestId` waits for every peer
 * live at the call (`peers`, from their heartbeats) to confirm it applied the
 * invalidation (of a key, a tag, a namespace or everything). Peers that join later are not waited for; a peer lost
 * meanwhile no longer is.
 */
export interface AckRequestedEvent {
  readonly type: 'ack.requested';
  readonly at: number;
  readonly requestId: number;
  readonly scope: 'key' | 'all' | 'tag' | 'prefix';
  /** The key, for scope `key`. */
  readonly key?: string;
  /** The tag, for scope `tag` (`invalidateTag`, `expireTag`). */
  readonly tag?: string;
  /** The namespace's prefix, for scope `prefix` (its `invalidateAll`). */
  readonly prefix?: string;
  /** `expire`, `expireTag`: the values were made stale, not dropped. */
  readonly soft?: true;
  /** The peers it waits for, sorted. */
  readonly peers: readonly string[];
  readonly timeoutMs: number;
}

/** A peer confirmed request `requestId` (its ack message, signed when a secret is set). */
export interface AckConfirmedEvent {
  readonly type: 'ack.confirmed';
  readonly at: number;
  readonly requestId: number;
  readonly instance: string;
}

/** Every peer the request waited for confirmed it, or was lost (`lost`: not heard for 2 × degradedTtl, so it no longer serves). */
export interface AckCompletedEvent {
  readonly type: 'ack.completed';
  readonly at: number;
  readonly requestId: number;
  readonly lost: readonly string[];
}

/** The request's timeout passed before these peers confirmed: `invalidate()` rejects with AckTimeoutError naming them. */
export interface AckTimedOutEvent {
  readonly type: 'ack.timedout';
  readonly at: number;
  readonly requestId: number;
  /** Sorted. */
  readonly missing: readonly string[];
}

/**
 * A peer asked this instance to confirm request `ack`, but a gap was found
 * or a repair is under way: what the gap missed is not dropped yet, so the
 * confirmation (which vouches for the peer's earlier requests too) waits for
 * the repair's end, and is sent then.
 */
export interface AckDeferredEvent {
  readonly type: 'ack.deferred';
  readonly at: number;
  readonly to: string;
  readonly ack: number;
}

/** How a verification of a sampled hit ended, when it found no violation. */
export type VerifyOutcome = 'match' | 'explained' | 'error';

/**
 * A sampled hit was re-loaded: `match`, the loader agreed with the value
 * served; `explained`, they differ but an invalidation or a store of the key
 * came between the hit and the verdict; `error`, the loader failed.
 */
export interface VerifiedEvent {
  readonly type: 'verified';
  readonly at: number;
  readonly outcome: VerifyOutcome;
}

/**
 * A hit served a value its loader contradicts, and no invalidation or store
 * of the key explains it: a lost or never-sent invalidation. `key` is
 * `[redacted]` unless `verify.allowKeys` is set.
 */
export interface CoherenceViolationEvent {
  readonly type: 'coherence.violation';
  readonly at: number;
  readonly key: string;
  /** When the hit served the value. */
  readonly hitAt: number;
}

export type CoherenceCheckEvent = AckRequestedEvent | AckConfirmedEvent | AckCompletedEvent | AckTimedOutEvent | AckDeferredEvent | VerifiedEvent | CoherenceViolationEvent;
