/** The status bookkeeping every transport shares: current status plus listeners that never break it. */
import type { StatusListener, TransportStatus, TransportStatusReason } from './transport.ts';

export class StatusBroadcaster {
  private readonly listeners = new Set<StatusListener>();

  constructor(public status: TransportStatus) {}

  on(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a new status and tells the listeners; repeating the current status is a no-op. */
  set(status: TransportStatus, reason: TransportStatusReason): void {
    if (status === this.status) return;
    this.status = status;
    for (const listener of [...this.listeners]) {
      try {
        listener({ status, reason });
      } catch {
        // A cache's handler failing must not stop the others from hearing the change.
      }
    }
  }
}

/** The `onWritable` listeners of one transport: told, each in turn, that the publishing side can send again. */
export class WritableSignal {
  private readonly listeners = new Set<() => void>();

  get size(): number {
    return this.listeners.size;
  }

  on(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // As with status listeners: one cache's failure must not keep the others from retrying.
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
