/**
 * The invalidation events (events.ts re-exports them): who caused one, why,
 * and what it names: a key, every key, a tag, a namespace's keys (a prefix),
 * hard or soft.
 */

/** Who caused an invalidation: this instance, or another one through the transport. */
export type InvalidationOrigin = 'local' | 'remote';

/**
 * Why an invalidation happened.
 * - `explicit`: `invalidate()` / `invalidateAll()` (here or on the remote publisher).
 * - `resync`: the transport came back after a gap in which messages may have been lost.
 * - `overflow`: the publish retry queue overflowed, so one `clear` replaced its keys.
 */
export type InvalidationReason = 'explicit' | 'resync' | 'overflow';

/** Details of an invalidation that came from another instance. */
export interface RemoteSource {
  /** Instance id of the publisher. */
  readonly instance: string;
  /** The publisher's clock when it sent the message (absent in the legacy format). */
  readonly sentAt?: number;
  /** W3C traceparent of the publishing span, when it had one. */
  readonly traceparent?: string;
}

interface InvalidatedBase {
  readonly type: 'invalidated';
  readonly at: number;
  readonly origin: InvalidationOrigin;
  readonly reason: InvalidationReason;
  /** Present when origin is `remote`. */
  readonly remote?: RemoteSource;
}

/**
 * One key's entry (and any load in flight for it) is no longer trusted.
 * `soft` (`expire`): its value is kept, stale, for stale-if-error; the next read misses.
 */
export interface KeyInvalidatedEvent extends InvalidatedBase {
  readonly scope: 'key';
  readonly key: string;
  readonly soft?: true;
}

/**
 * The entries whose value carries `tag` (and loads that began before, should
 * they settle with it) are no longer trusted. `soft` (`expireTag`): their
 * values are kept, stale, for stale-if-error.
 */
export interface TagInvalidatedEvent extends InvalidatedBase {
  readonly scope: 'tag';
  readonly tag: string;
  readonly soft?: true;
}

/** Every key that starts with `prefix` (a namespace's `invalidateAll`), and the loads of those keys, are no longer trusted. */
export interface PrefixInvalidatedEvent extends InvalidatedBase {
  readonly scope: 'prefix';
  readonly prefix: string;
}

/** Every entry (and every load in flight) is no longer trusted. */
export interface AllInvalidatedEvent extends InvalidatedBase {
  readonly scope: 'all';
}

export type InvalidatedEvent = KeyInvalidatedEvent | TagInvalidatedEvent | PrefixInvalidatedEvent | AllInvalidatedEvent;

/** The scopes of an invalidation (a metric label). */
export type InvalidationScope = InvalidatedEvent['scope'];

/**
 * What an invalidation message asks: `del` keys, `clear` everything, `expire`
 * keys (soft), `tag` / `expire-tag` the entries of tags (hard / soft), `prefix`
 * the keys of namespaces.
 */
export type MessageOp = 'del' | 'clear' | 'expire' | 'tag' | 'expire-tag' | 'prefix';
