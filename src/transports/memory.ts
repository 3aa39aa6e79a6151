/**
 * An in-process transport: caches in one process share a bus. For tests and
 * for services that run several caches side by side. Each `MemoryTransport`
 * is one endpoint on a `MemoryBus`; `disconnect()` / `reconnect()` simulate a
 * network fault (the endpoint neither sends nor receives meanwhile). Closed,
 * it stays closed: it neither subscribes, sends, receives nor reconnects.
 * With `log`, the bus keeps each channel's log, as a Redis server does for the
 * Redis transport, so a gap is repaired by reading it.
 */
import { StatusBroadcaster, WritableSignal } from './status-listeners.ts';
import { ChannelListeners } from './channel-listeners.ts';
import { ChannelLogs, resolveRetention, type LogRetention } from './channel-log.ts';
import {
  type DeliveredPosition,
  type PayloadListener,
  type PublishKind,
  type StatusListener,
  type Transport,
  type TransportLog,
  type TransportStatus,
  type TransportSubscription,
} from './transport.ts';

export interface MemoryBusOptions {
  /** Keep a log of every channel, so caches repair a gap by reading it (see TransportLog). Default off. */
  log?: boolean | LogRetention;
}

export class MemoryBus {
  private readonly channels = new Map<string, Set<MemoryTransport>>();
  /** @internal Every channel's log; undefined when the bus keeps none. */
  readonly logs: ChannelLogs | undefined;

  constructor(options: MemoryBusOptions = {}) {
    const retention = resolveRetention('log', options.log);
    this.logs = retention === undefined ? undefined : new ChannelLogs(retention);
  }

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
  broadcast(channel: string, payloads: readonly string[], kind: PublishKind): void {
    const members = [...(this.channels.get(channel) ?? [])];
    const logs = this.logs;
    const positions = logs === undefined ? undefined : payloads.map((payload) => logs.position(channel, payload, kind));
    // A promise job, not queueMicrotask: sinon's default fake timers hold queueMicrotask until the test ticks.
    void Promise.resolve().then(() => {
      for (const member of members) for (const [index, payload] of payloads.entries()) member.receive(channel, payload, positions?.[index]);
    });
  }

  /** Forgets every channel's log and starts new epochs, as a server that restarted without persistence would. */
  resetLogs(): void {
    this.logs?.resetAll();
  }
}

export class MemoryTransport implements Transport {
  readonly kind = 'memory';
  private readonly statuses = new StatusBroadcaster('connected');
  private readonly writable = new WritableSignal();
  private readonly listeners = new ChannelListeners();

  readonly log: TransportLog | undefined;

  constructor(private readonly bus: MemoryBus) {
    this.log = bus.logs?.reader(() => (this.status === 'connected' ? undefined : new Error(`memory transport is ${this.status}`)));
  }

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

  publish(channel: string, payloads: readonly string[], kind: PublishKind = 'entry'): Promise<void> {
    if (this.status !== 'connected') return Promise.reject(new Error(`memory transport is ${this.status}`));
    this.bus.broadcast(channel, payloads, kind);
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
  receive(channel: string, payload: string, position: DeliveredPosition | undefined): void {
    if (this.status !== 'connected') return;
    this.listeners.deliver(channel, payload, position);
  }
}
