/**
 * An in-process transport: caches in one process share a bus. For tests and
 * for services that run several caches side by side. Each `MemoryTransport`
 * is one endpoint on a `MemoryBus`; `disconnect()` / `reconnect()` simulate a
 * network fault (the endpoint neither sends nor receives meanwhile). Closed,
 * it stays closed: it neither subscribes, sends, receives nor reconnects.
 */
import { StatusBroadcaster, WritableSignal } from './status-listeners.ts';
import { ChannelListeners } from './channel-listeners.ts';
import { type PayloadListener, type StatusListener, type Transport, type TransportStatus, type TransportSubscription } from './transport.ts';

export class MemoryBus {
  private readonly channels = new Map<string, Set<MemoryTransport>>();

  /** A new endpoint on this bus. */
  transport(): MemoryTransport {
    return new MemoryTransport(this);
  }

  /** @internal */
  join(channel: string, endpoint: MemoryTransport): void {
    let members = this.channels.get(channel);
    if (members === undefined) {
      members = new Set();
      this.channels.set(channel, members);
    }
    members.add(endpoint);
  }

  /** @internal */
  leave(channel: string, endpoint: MemoryTransport): void {
    this.channels.get(channel)?.delete(endpoint);
  }

  /** @internal Delivers after the publisher's tick, as a network would, never inside its call. */
  broadcast(channel: string, payloads: readonly string[]): void {
    const members = [...(this.channels.get(channel) ?? [])];
    // A promise job, not queueMicrotask: sinon's default fake timers hold queueMicrotask until the test ticks.
    void Promise.resolve().then(() => {
      for (const member of members) for (const payload of payloads) member.receive(channel, payload);
    });
  }
}

export class MemoryTransport implements Transport {
  readonly kind = 'memory';
  private readonly statuses = new StatusBroadcaster('connected');
  private readonly writable = new WritableSignal();
  private readonly listeners = new ChannelListeners();

  constructor(private readonly bus: MemoryBus) {}

  get status(): TransportStatus {
    return this.statuses.status;
  }

  subscribe(channel: string, listener: PayloadListener): Promise<TransportSubscription> {
    // As the other transports do: a cache on a closed transport learns at once that it will never hear anything.
    if (this.status === 'closed') return Promise.reject(new Error('memory transport is closed'));
    if (this.listeners.add(channel, listener)) this.bus.join(channel, this);
    return Promise.resolve({
      unsubscribe: () => {
        if (this.listeners.remove(channel, listener)) this.bus.leave(channel, this);
        return Promise.resolve();
      },
    });
  }

  publish(channel: string, payloads: readonly string[]): Promise<void> {
    if (this.status !== 'connected') return Promise.reject(new Error(`memory transport is ${this.status}`));
    this.bus.broadcast(channel, payloads);
    return Promise.resolve();
  }

  onStatus(listener: StatusListener): () => void {
    return this.statuses.on(listener);
  }

  /** Calls `listener` each time `reconnect()` restores the endpoint: it can send again. */
  onWritable(listener: () => void): () => void {
    return this.writable.on(listener);
  }

  /** Simulates losing the network: nothing is sent or received until `reconnect()`. */
  disconnect(): void {
    if (this.status === 'closed') return;
    this.statuses.set('disconnected', 'connection-lost');
  }

  reconnect(): void {
    if (this.status !== 'disconnected') return;
    this.statuses.set('connected', 'connected');
    this.writable.emit();
  }

  close(): Promise<void> {
    for (const channel of this.listeners.channels()) this.bus.leave(channel, this);
    this.listeners.clear();
    this.writable.clear();
    this.statuses.set('closed', 'closed');
    return Promise.resolve();
  }

  /** @internal */
  receive(channel: string, payload: string): void {
    if (this.status !== 'connected') return;
    this.listeners.deliver(channel, payload);
  }
}
