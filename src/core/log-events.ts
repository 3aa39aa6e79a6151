/**
 * The events of gap repair from the channel's log (decide-repair.ts): where
 * a message sits in the log, a repair that reads it, and which resync ran.
 */

/**
 * Where a message sits in its channel's log, as the transport's server
 * numbered it: `seq` counts the log's entries within one `epoch` (a new epoch
 * means the log started again: the server lost it, or it was reset).
 */
export interface LogPosition {
  readonly epoch: string;
  readonly seq: number;
}

/**
 * Why a repair began: `starting` (the first subscription: where the log stands
 * is not known yet), `reconnected` (the link is back after a gap),
 * `lost-message` (a position was skipped while the link was up), `log-reset`
 * (a message came from another epoch of the log).
 */
export type RepairReason = 'starting' | 'reconnected' | 'lost-message' | 'log-reset';

/**
 * A gap may have lost messages: this instance reads its channel's log from
 * `after` (its last applied position; none when it has none) to find out what
 * the gap missed. While it reads, its lease is not renewed.
 */
export interface RepairStartedEvent {
  readonly type: 'repair.started';
  readonly at: number;
  readonly repairId: number;
  readonly reason: RepairReason;
  readonly after?: LogPosition;
}

/** Reading the log failed; the next heartbeat tries again, and meanwhile the lease is not renewed. */
export interface RepairFailedEvent {
  readonly type: 'repair.failed';
  readonly at: number;
  readonly repairId: number;
  /** The error's class name. */
  readonly errorName: string;
}

/**
 * Why a resync was full rather than exact: `no-log` (the transport keeps no
 * log), `starting` (the first subscription), `log-trimmed` (retention dropped
 * part of the gap), `log-reset` (the log's epoch changed), `unlogged` (a
 * message without a position arrived: a legacy publisher or a peer without
 * the log), `undecodable` (an entry of the gap could not be read).
 */
export type FullResyncCause = 'no-log' | 'starting' | 'log-trimmed' | 'log-reset' | 'unlogged' | 'undecodable';

/**
 * A gap was repaired. `exact`: the log covered it, and only the keys
 * invalidated in it were dropped (everything, when it held a clear); `full`:
 * everything was dropped, and `cause` says why. `head` is the log position
 * now applied (none without a log).
 */
export interface ResyncedEvent {
  readonly type: 'resynced';
  readonly at: number;
  readonly mode: 'exact' | 'full';
  readonly cause?: FullResyncCause;
  readonly head?: LogPosition;
  /** Log entries the gap held (exact only). */
  readonly missed: number;
  /** Distinct keys they invalidated (exact only). */
  readonly keys: number;
  /** Live entries the repair dropped. */
  readonly dropped: number;
  /** Live entries it kept (exact only): the loads a full resync would have caused. */
  readonly kept: number;
}

/** This instance's own message came back at `position`: the log is applied up to there. */
export interface LogAdvancedEvent {
  readonly type: 'log.advanced';
  readonly at: number;
  readonly position: LogPosition;
}
