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

export type PayloadListener = (payload: string) => void;

/**
 * Hands `payload` to every listener of one channel, the delivery every
 * transport shares. It iterates a copy: listeners added or removed meanwhile
 * take effect from the next payload.
 */
export function deliverPayload(listeners: ReadonlySet<PayloadListener> | undefined, payload: string): void {
  if (listeners === undefined) return;
  if (listeners.size === 1) {
    // The usual single listener: calling it and stopping is what iterating a copy does, without the copy.
    for (const listener of listeners) return listener(payload);
  }
  for (const listener of [...listeners]) listener(payload);
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
  publish(channel: string, payloads: readonly string[]): Promise<void>;
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
