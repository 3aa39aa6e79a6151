/**
 * The events of loads no caller waits for (refresh-ahead, stale-while-revalidate)
 * and of expired values served: kept apart from events.ts, which re-exports them.
 */

/**
 * Why a background load started: `refresh`, a hit came after the entry's
 * refresh time (`refreshAhead`); `swr`, a read was answered with the expired
 * value while this load revalidates it (`staleWhileRevalidate`).
 */
export type LoadReason = 'refresh' | 'swr';

/**
 * Why reads got an expired value: `swr`, inside its stale-while-revalidate
 * window while one background load revalidates it; `error`, its load failed
 * or timed out inside its stale-if-error window.
 */
export type StaleReason = 'swr' | 'error';

/**
 * Reads were answered with an expired value. Never an invalidated one, and
 * never past the staleness bound: only while a peer's write could not have
 * gone unheard for more than degradedTtl.
 */
export interface StaleServedEvent {
  readonly type: 'stale.served';
  readonly key: string;
  readonly at: number;
  readonly reason: StaleReason;
  /** How many reads got it: 1 for `swr`; a failed load's waiting callers for `error`. */
  readonly reads: number;
}
