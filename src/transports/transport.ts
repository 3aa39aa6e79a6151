/**
 * The seam between a cache and whatever carries its invalidations to other
 * processes. A transport moves opaque payloads on named channels and says
 * whether it can currently receive; the cache (coherence.ts) does everything
 * else: encoding, validation, self-echo, coalescing, retries, degraded mode.
 *
 * A transport may be shared by several caches. The caller that created it
 * owns it: closing a cache unsubscribes it but never closes the transport.
 */

/** Whether the transport can currently deliver other processes' messages to this one. */
export type TransportStatus = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** Why the status changed (a fixed set: it becomes an event field and a log line). */
export type TransportStatusReason = 'connected' | 'connection-lost' | 'heartbeat-timeout' | 'starting' | 'closed';

export interface TransportStatusChange {
  readonly status: TransportStatus;
  readonly reason: TransportStatusReason;
}

/**
 * Where a delivered payload sits in its channel's log, for a transport that
 * keeps one. `entry`: the payload is entry `seq` of the log; otherwise it is
 * a mark (a heartbeat, not logged itself) sent when the log's last entry was
 * `seq`. Positions count within one `epoch`: a new epoch is a new log.
 */
export interface DeliveredPosition {
  readonly epoch: string;
  readonly seq: number;
  readonly entry: boolean;
}

export type PayloadListener = (payload: string, position?: DeliveredPosition) => void;

/** What a read of the log found: the log's head, and the entries after the position asked for, oldest first. */
export interface LogRead {
  readonly epoch: string;
  /** The position of the log's last entry (0 when it has none). */
  readonly head: number;
  /** Whether `entries` are every entry after the position asked for, up to `head` (false: trimmed, or another epoch). */
  readonly covered: boolean;
  readonly entries: readonly { readonly seq: number; readonly payload: string }[];
}

/**
 * A durable, bounded log of a channel's entries kept by the transport's server,
 * so a cache can read what a gap in its link missed instead of dropping
 * everything.
 */
export interface TransportLog {
  /**
   * The entries of `channel` after `after` (just the head when `after` is
   * undefined or of another epoch). Rejects when the server cannot answer.
   */
  read(channel: string, after: { readonly epoch: string; readonly seq: number } | undefined): Promise<LogRead>;
}

/**
 * How a payload is published by a transport that keeps a log: as a log entry
 * (default), as a mark carrying the log's head (heartbeats), or plain, neither
 * logged nor framed (the legacy channel, whose readers expect the bare payload).
 */
export type PublishKind = 'entry' | 'mark' | 'plain';

/**
 * Hands `payload` to every listener of one channel, the delivery every
 * transport shares. It iterates a copy: listeners added or removed meanwhile
 * take effect from the next payload.
 */
export function deliverPayload(listeners: ReadonlySet<PayloadListener> | undefined, payload: string, position?: DeliveredPosition): void {
  if (listeners === undefined) return;
  if (listeners.size === 1) {
    // The usual single listener: calling it and stopping is what iterating a copy does, without the copy.
    for (const listener of listeners) return listener(payload, position);
  }
  for (const listener of [...listeners]) listener(payload, position);
}
export type StatusListener = (change: TransportStatusChange) => void;

export interface TransportSubscription {
  /** Stops delivery to this listener. */
  unsubscribe(): Promise<void>;
}

export interface Transport {
  /** What carries the messages, for telemetry: `redis`, `cluster-ipc`, `memory`. */
  readonly kind: string;
  readonly status: TransportStatus;
  /** Delivers every payload published on `channel` (this process's own included: the cache skips its echo). */
  subscribe(channel: string, listener: PayloadListener): Promise<TransportSubscription>;
  /** Sends payloads on `channel`; rejects when they could not be handed over. */
  publish(channel: string, payloads: readonly string[], kind?: PublishKind): Promise<void>;
  /** Present when the transport keeps a log of what is published (see TransportLog). */
  readonly log?: TransportLog | undefined;
  /** Status changes of the receiving side. Returns the unsubscribe function. */
  onStatus(listener: StatusListener): () => void;
  /**
   * Optional: calls `listener` whenever the publishing side can send again
   * (its connection is back), so queued invalidations are retried at once
   * rather than on a timer. Returns the unsubscribe function.
   */
  onWritable?(listener: () => void): () => void;
  /** Releases what the transport opened (never what its caller passed in). */
  close(): Promise<void>;
}
