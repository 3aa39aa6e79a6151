/** Errors the cache throws or rejects with, each with a stable `name` callers can test. */
import type { AckOperation } from '../core/effects.ts';

/** A `get` waited longer than `loadTimeout` for its loader. The loader keeps running. */
export class LoadTimeoutError extends Error {
  override readonly name = 'LoadTimeoutError';
  constructor(
    readonly cacheName: string,
    readonly key: string,
    readonly timeoutMs: number,
  ) {
    super(`cache "${cacheName}": loader did not settle within loadTimeout (${timeoutMs} ms)`);
  }
}

/** The cache was used after `close()`. */
export class CacheClosedError extends Error {
  override readonly name = 'CacheClosedError';
  constructor(readonly cacheName: string) {
    super(`cache "${cacheName}" is closed`);
  }
}

/**
 * `invalidate()` / `invalidateAll()`: the transport did not accept the message
 * within `invalidateTimeout`. Peers may serve the old value until it is
 * delivered: it stays queued and is sent as soon as the transport can take it.
 */
export class InvalidationTimeoutError extends Error {
  override readonly name = 'InvalidationTimeoutError';
  constructor(
    readonly cacheName: string,
    /** The keys invalidated together (in one tick) that were not acknowledged; empty for `invalidateAll()`. */
    readonly keys: readonly string[],
    /** `invalidateAll()` was among them. */
    readonly clear: boolean,
    readonly timeoutMs: number,
  ) {
    super(
      `cache "${cacheName}": ${clear ? 'invalidateAll' : `the invalidation of ${keys.length} key(s)`} was not accepted by the transport within invalidateTimeout (${timeoutMs} ms); it stays queued and is sent as soon as the transport can take it (see error.keys)`,
    );
  }
}

/**
 * `invalidate(key, { ack: 'all' })` / `invalidateAll({ ack: 'all' })` (or
 * `invalidateTag`, `expire`, `expireTag`, a namespace's `invalidateAll`): these
 * peers, live when it was called, did not confirm within its timeout that they
 * applied it. The invalidation itself was applied here and sent; they may
 * still serve the old value, for at most degradedTtl if they cannot hear the
 * channel.
 */
export class AckTimeoutError extends Error {
  override readonly name = 'AckTimeoutError';
  constructor(
    readonly cacheName: string,
    /** The key invalidated (or expired); undefined for the other calls. */
    readonly key: string | undefined,
    /** Instance ids of the peers that did not confirm, sorted. */
    readonly peers: readonly string[],
    readonly timeoutMs: number,
    /** The call, when not `invalidate(key)` or `invalidateAll()`. */
    readonly operation?: AckOperation,
  ) {
    super(
      `cache "${cacheName}": ${operation ?? (key === undefined ? 'invalidateAll' : 'the invalidation')} was not confirmed within ${timeoutMs} ms by ${peers.length} peer(s): ${peers.join(', ')} (see error.peers)`,
    );
  }
}

/** `close()` could not deliver these invalidations before `closeTimeout`: other instances may serve their old values until their ttl. */
export class UndeliveredInvalidationsError extends Error {
  override readonly name = 'UndeliveredInvalidationsError';
  constructor(
    readonly cacheName: string,
    /** The keys given up (empty when a clear was). */
    readonly keys: readonly string[],
    /** A clear of everything was given up. */
    readonly clear: boolean,
    readonly timeoutMs: number,
  ) {
    super(`cache "${cacheName}": close() could not deliver ${clear ? 'a clear of every key' : `${keys.length} invalidation(s)`} within closeTimeout (${timeoutMs} ms); see error.keys`);
  }
}

/** A key the cache refuses, e.g. one too long for any message to carry it to the other instances. */
export class CacheKeyError extends TypeError {
  override readonly name = 'CacheKeyError';
  constructor(
    readonly cacheName: string,
    problem: string,
  ) {
    super(`cache "${cacheName}": ${problem}`);
  }
}

/** The cache's transport was closed: it cannot hear or tell its peers any more. */
export class TransportClosedError extends Error {
  override readonly name = 'TransportClosedError';
  constructor(readonly cacheName: string) {
    super(`cache "${cacheName}": its transport is closed, so it can never hear its peers (close the cache before its transport)`);
  }
}

/** An option passed to `createCache` (or a per-call option) is invalid; the message names it. */
export class CacheOptionError extends TypeError {
  override readonly name = 'CacheOptionError';
  constructor(
    readonly option: string,
    problem: string,
  ) {
    super(`coherent-cache: option "${option}" ${problem}`);
  }
}

/**
 * An error's class name for events, spans and logs, never its message (which
 * may quote a value). A subclass that does not set `name` inherits its base's
 * (`class QuotaError extends Error {}` says `Error`): its constructor's name is
 * used instead. A name that does not look like a class name (an anonymous
 * class, or a custom name, which is caller-controlled text too) is reported as
 * `Error`.
 */
export function errorType(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const name = inheritsBuiltInName(error) ? (error.constructor as { name: unknown }).name : error.name;
  return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? name : 'Error';
}

/** The built-in error classes whose `name` a subclass inherits unless it sets its own. */
const BUILT_IN_ERRORS: readonly (abstract new (...args: never[]) => Error)[] = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError];

/** `error` is an instance of a subclass, and its `name` is a built-in prototype's (neither the instance nor a class between set one). */
function inheritsBuiltInName(error: Error): boolean {
  const constructor: unknown = error.constructor;
  if (typeof constructor !== 'function' || BUILT_IN_ERRORS.includes(constructor as (typeof BUILT_IN_ERRORS)[number])) return false;
  let holder: object | null = error;
  while (holder !== null && !Object.hasOwn(holder, 'name')) holder = Object.getPrototypeOf(holder) as object | null;
  return BUILT_IN_ERRORS.some((builtIn) => builtIn.prototype === holder);
}
