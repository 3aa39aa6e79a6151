/**
 * Every input the cache decides on, as data. The shell turns calls, transport
 * messages, link changes, settled loads and timers into commands; `decide`
 * answers each with events (what happened) and effects (what the shell must
 * do). Each command carries its time: `decide` reads no clock.
 */
import type { LinkReason, LogPosition, MessageOp, MessageRejectReason, RemoteSource } from './events.ts';
import type { CoherenceCheckCommand } from './coherence-commands.ts';

/** A read (`get`, or `getSync` when `sync`) that the hit fast path did not answer. */
export interface ReadCommand {
  readonly type: 'read';
  readonly key: string;
  readonly at: number;
  /** The ttl a loaded value gets. */
  readonly ttl: number;
  readonly sync: boolean;
  /** The per-call window a loaded value gets (absent: the cache's). */
  readonly staleWhileRevalidate?: number;
}

/** `set`: a local write (other instances are not told). */
export interface SetCommand<V> {
  readonly type: 'set';
  readonly key: string;
  readonly at: number;
  readonly ttl: number;
  readonly value: V;
  /** What `sizeOf` measured (with `maxSize` set). */
  readonly size?: number;
  /** The per-call window (absent: the cache's). */
  readonly staleWhileRevalidate?: number;
  readonly tags?: readonly string[];
}

/**
 * `invalidate(key)`, `invalidateAll()`, `invalidateTag(tag)`, a namespace's
 * `invalidateAll()` (scope `prefix`), or with `soft`, `expire(key)` and
 * `expireTag(tag)`, on this instance; `ackTimeout` with `{ ack: 'all' }`.
 */
export type InvalidateCommand =
  | { readonly type: 'invalidate'; readonly at: number; readonly scope: 'key'; readonly key: string; readonly soft?: boolean; readonly ackTimeout?: number }
  | { readonly type: 'invalidate'; readonly at: number; readonly scope: 'tag'; readonly tag: string; readonly soft?: boolean; readonly ackTimeout?: number }
  | { readonly type: 'invalidate'; readonly at: number; readonly scope: 'prefix'; readonly prefix: string; readonly ackTimeout?: number }
  | { readonly type: 'invalidate'; readonly at: number; readonly scope: 'all'; readonly ackTimeout?: number };

/** `clear()`: forget everything locally, tell nobody. */
export interface ClearCommand {
  readonly type: 'clear';
  readonly at: number;
}

/** A message that passed decoding (the protocol's checks); whether it applies is `decide`'s call. */
export interface DecodedMessage {
  readonly ok: true;
  readonly cache: string;
  readonly op: MessageOp | 'beat' | 'ack';
  /** The original module's format (from the legacy channel): no timestamp, no signature. */
  readonly legacy: boolean;
  /** What the op names: keys (del, expire), tags (tag, expire-tag) or key prefixes (prefix); empty for a clear and a beat. */
  readonly keys: readonly string[];
  readonly remote: RemoteSource;
  /** A del or clear: the publisher's request for confirmation; an ack: the request it confirms (and those before it). */
  readonly ack?: number;
  /** An ack: the instance it confirms to. */
  readonly to?: string;
}

/** A message that failed decoding, with the protocol's reason. */
export interface UndecodableMessage {
  readonly ok: false;
  readonly reason: MessageRejectReason;
  readonly detail: string;
}

/** Where a received payload sits in its channel's log: an entry of it, or a mark of its head (a heartbeat). */
export interface ReceivedPosition extends LogPosition {
  readonly entry: boolean;
}

/** A payload arrived on one of the cache's channels. */
export interface ReceiveCommand {
  readonly type: 'receive';
  readonly at: number;
  readonly channel: string;
  readonly message: DecodedMessage | UndecodableMessage;
  /** Its place in the channel's log, when the transport keeps one. */
  readonly position?: ReceivedPosition;
}

/** The echo of this instance's own invalidation came back from a logged channel at `position` (it is not decoded again). */
export interface EchoCommand {
  readonly type: 'echo';
  readonly at: number;
  readonly position: ReceivedPosition;
}

/** The log read of a repair answered: the entries after the position it asked for, decoded, or the error's class name. */
export type LogReadCommand =
  | {
      readonly type: 'log.read';
      readonly at: number;
      readonly repairId: number;
      readonly ok: true;
      readonly epoch: string;
      readonly head: number;
      readonly covered: boolean;
      readonly entries: readonly (DecodedMessage | UndecodableMessage)[];
    }
  | { readonly type: 'log.read'; readonly at: number; readonly repairId: number; readonly ok: false; readonly errorName: string };

/** The transport can (connected) or cannot (degraded) deliver peers' messages any more. */
export interface LinkCommand {
  readonly type: 'link';
  readonly at: number;
  readonly status: 'connected' | 'degraded';
  readonly reason: LinkReason;
}

/** A loader returned or threw. */
export type LoadSettledCommand<V> =
  | {
      readonly type: 'load.settled';
      readonly at: number;
      readonly key: string;
      readonly loadId: number;
      readonly outcome: 'ok';
      readonly value: V;
      /** What `sizeOf` measured (with `maxSize` set). */
      readonly size?: number;
      /** The loader set `ctx.ttl` / `ctx.staleIfError`: the value is stored with these. */
      readonly ttl?: number;
      readonly staleIfError?: number;
      /** The value's tags (the read's `{ tags }`, or what the loader set in `ctx.tags`). */
      readonly tags?: readonly string[];
    }
  | {
      readonly type: 'load.settled';
      readonly at: number;
      readonly key: string;
      readonly loadId: number;
      readonly outcome: 'error';
      readonly error: unknown;
      /** The error's class name (never its message). */
      readonly errorName: string;
    };

/** A load's `loadTimeout` passed. */
export interface LoadTimeoutCommand {
  readonly type: 'load.timeout';
  readonly at: number;
  readonly key: string;
  readonly loadId: number;
}

/** A publish (the keys of one flush, or a clear) completed or failed. */
export interface PublishSettledCommand {
  readonly type: 'publish.settled';
  readonly at: number;
  readonly keys: readonly string[];
  readonly clear: boolean;
  /** Messages it took (0 when it failed before sending). */
  readonly messages: number;
  /** The error's class name when it failed. */
  readonly errorName: string | undefined;
  readonly traceparent: string | undefined;
}

/** The retry timer fired, or the transport says a publish can succeed again. */
export interface RetryCommand {
  readonly type: 'retry';
  readonly at: number;
}

/** The heartbeat timer fired: time to prove the channel again (and to notice a lease that lapsed). */
export interface BeatCommand {
  readonly type: 'beat';
  readonly at: number;
}

/** `close()`'s deadline passed: what still waits in the retry queue will not be delivered. */
export interface AbandonCommand {
  readonly type: 'abandon';
  readonly at: number;
}

export type { AckTimeoutCommand, VerifyCommand } from './coherence-commands.ts';

export type Command<V> =
  | ReadCommand
  | SetCommand<V>
  | InvalidateCommand
  | ClearCommand
  | ReceiveCommand
  | LinkCommand
  | LoadSettledCommand<V>
  | LoadTimeoutCommand
  | PublishSettledCommand
  | RetryCommand
  | BeatCommand
  | AbandonCommand
  | EchoCommand
  | LogReadCommand
  | CoherenceCheckCommand;
