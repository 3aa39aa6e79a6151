/**
 * What a decision asks the shell to do: the side of a decision `evolve`
 * cannot perform (calling a loader, answering callers, sending, arming a
 * timer). The shell runs them in order, after the decision's events.
 */
import type { LogPosition } from './events.ts';

export type Effect<V> =
  /** Answer the caller of this read with a cached value. */
  | { readonly type: 'serve'; readonly value: V }
  /** Call the read's loader as load `loadId` (after arming its timeout, so a loader that throws at once leaves no timer); `background`: the read does not wait for it. */
  | { readonly type: 'start-load'; readonly key: string; readonly loadId: number; readonly sync: boolean; readonly background?: true }
  /** Answer the caller of this read with load `loadId`'s outcome. */
  | { readonly type: 'join-load'; readonly key: string; readonly loadId: number }
  /** Answer every caller of load `loadId`. */
  | { readonly type: 'settle-load'; readonly loadId: number; readonly result: LoadResult<V> }
  /** Tell the loader of `loadId` (through its AbortSignal) that its callers stopped waiting. */
  | { readonly type: 'abort-load'; readonly key: string; readonly loadId: number }
  /** Fire a `load.timeout` command for `loadId` after `afterMs`. */
  | { readonly type: 'arm-load-timeout'; readonly key: string; readonly loadId: number; readonly afterMs: number }
  /** Tell the other instances (coalesced with this tick's other publishes); `ack`: ask them to confirm this request. */
  | { readonly type: 'publish'; readonly scope: 'key'; readonly key: string; readonly soft?: boolean; readonly ack?: number }
  | { readonly type: 'publish'; readonly scope: 'tag'; readonly tag: string; readonly soft?: boolean; readonly ack?: number }
  | { readonly type: 'publish'; readonly scope: 'prefix'; readonly prefix: string; readonly ack?: number }
  | { readonly type: 'publish'; readonly scope: 'all'; readonly ack?: number }
  /** Confirm to instance `to` that its messages up to request `ack` were applied. */
  | { readonly type: 'send-ack'; readonly ack: number; readonly to: string }
  /** Fire an `ack.timeout` command for request `requestId` after `afterMs`; its caller waits from now on (`operation`, for its error, when not `invalidate` or `invalidateAll`). */
  | { readonly type: 'arm-ack-timeout'; readonly requestId: number; readonly afterMs: number; readonly key: string | undefined; readonly operation?: AckOperation }
  /** Answer the caller of request `requestId`: confirmed by every peer it waited for, or not by `missing`. */
  | { readonly type: 'settle-ack'; readonly requestId: number; readonly missing: readonly string[] }
  /** Send what waits in the retry queue now. */
  | { readonly type: 'flush' }
  /** Fire a `retry` command after `afterMs` (one timer at a time). */
  | { readonly type: 'arm-retry'; readonly afterMs: number }
  /** Publish a heartbeat on the channel (its echo renews the lease). */
  | { readonly type: 'send-beat' }
  /** Read the channel's log after `after` for repair `repairId`, and answer with a `log.read` command. */
  | { readonly type: 'read-log'; readonly repairId: number; readonly after: LogPosition | undefined };

/** How a load's callers are answered. */
export type LoadResult<V> =
  | { readonly kind: 'value'; readonly value: V }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'timeout'; readonly afterMs: number };

export type EffectOf<T extends Effect<unknown>['type'], V = unknown> = Extract<Effect<V>, { type: T }>;

/** The call an acknowledged invalidation other than `invalidate(key)` or `invalidateAll()` came from (named by its AckTimeoutError). */
export type AckOperation = 'invalidateTag' | 'expire' | 'expireTag' | 'namespace invalidateAll';
