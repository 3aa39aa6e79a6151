/**
 * A transport whose network the test drives: every published payload waits
 * in `inFlight` (one copy per subscribed endpoint, the publisher's own echo
 * included, as Redis does) until the test delivers, duplicates or drops it.
 * Each endpoint receives in the order messages were published, as one
 * subscriber connection to a pub/sub server does; the test chooses which
 * endpoint goes next, so deliveries interleave in any order across endpoints,
 * and a message may wait for any length of (fake) time. A link can be broken
 * and restored: a broken endpoint neither sends (its publishes reject) nor
 * receives (what was in flight to it is lost). A message is only ever lost
 * with its link: a dropped message breaks its recipient's link, as a lost
 * connection is the only way a message goes missing on a real server.
 *
 * With a log (`new ControlledBus({ log })`), the bus is also the server that
 * keeps each channel's log and numbers what is published, and the faults the
 * log repairs become possible: a message lost while its link stays up, one
 * delivered out of order, and a log that starts again in a new epoch.
 */
import { ChannelListeners } from '../../src/transports/channel-listeners.ts';
import { StatusBroadcaster, WritableSignal } from '../../src/transports/status-listeners.ts';
import { ChannelLogs, type ResolvedRetention } from '../../src/transports/channel-log.ts';
import {
  type DeliveredPosition,
  type PayloadListener,
  type PublishKind,
  type StatusListener,
  type Transport,
  type TransportLog,
  type TransportStatus,
  type TransportSubscription,
} from '../../src/transports/transport.ts';

export interface InFlight {
  readonly from: ControlledEndpoint;
  readonly to: ControlledEndpoint;
  readonly channel: string;
  readonly payload: string;
  readonly position: DeliveredPosition | undefined;
}

export class ControlledBus {
  readonly endpoints: ControlledEndpoint[] = [];
  readonly inFlight: InFlight[] = [];
  /** Every channel's log; undefined when the bus keeps none. */
  readonly logs: ChannelLogs | undefined;

  constructor(options: { log?: ResolvedRetention } = {}) {
    this.logs = options.log === undefined ? undefined : new ChannelLogs(options.log);
  }
  /** Called for every payload an endpoint publishes (once, not per recipient). */
  onPublish: ((from: ControlledEndpoint, channel: string, payload: string) => void) | undefined;

  endpoint(): ControlledEndpoint {
    const endpoint = new ControlledEndpoint(this, this.endpoints.length);
    this.endpoints.push(endpoint);
    return endpoint;
  }

  /** The next message of the recipient of the message at `index` (modulo the queue length), without taking it. */
  next(index: number): InFlight | undefined {
    if (this.inFlight.length === 0) return undefined;
    const to = (this.inFlight[index % this.inFlight.length] as InFlight).to;
    return this.inFlight.find((message) => message.to === to);
  }

  /** Delivers the next message of the recipient of the message at `index`; returns it, or undefined when nothing is in flight. */
  deliver(index: number): InFlight | undefined {
    const message = this.take(index);
    message?.to.receive(message.channel, message.payload, message.position);
    return message;
  }

  /** Delivers the message at `index` itself, ahead of whatever its recipient waits for before it (only a logged bus reorders). */
  deliverOutOfOrder(index: number): InFlight | undefined {
    if (this.inFlight.length === 0 || this.logs === undefined) return undefined;
    const [message] = this.inFlight.splice(index % this.inFlight.length, 1) as [InFlight];
    message.to.receive(message.channel, message.payload, message.position);
    return message;
  }

  /**
   * Loses the log entries (not the heartbeat marks, whose loss nothing would
   * notice) on their way to the recipient of the message at `index` (the
   * next one, or all of them), while the link stays up: only a logged bus,
   * whose log can repair it.
   */
  loseQuietly(index: number, all = false): void {
    if (this.logs === undefined || this.inFlight.length === 0) return;
    const to = (this.inFlight[index % this.inFlight.length] as InFlight).to;
    for (let i = 0; i < this.inFlight.length; i++) {
      const message = this.inFlight[i] as InFlight;
      if (message.to !== to || message.position?.entry !== true) continue;
      this.inFlight.splice(i--, 1);
      if (!all) return;
    }
  }

  /** Every channel's log starts again in a new epoch, as after a server restart without persistence. */
  resetLogs(): void {
    this.logs?.resetAll();
  }

  /** Puts a second copy of the message at `index` in flight, behind everything its recipient waits for. */
  duplicate(index: number): void {
    if (this.inFlight.length === 0) return;
    this.inFlight.push(this.inFlight[index % this.inFlight.length] as InFlight);
  }

  /** Loses the next message of the recipient of the message at `index`, and with it the recipient's link. */
  drop(index: number): void {
    this.take(index)?.to.break();
  }

  /** Delivers everything in flight, oldest first. */
  deliverAll(): void {
    while (this.inFlight.length > 0) this.deliver(0);
  }

  /** @internal */
  send(from: ControlledEndpoint, channel: string, payloads: readonly string[], kind: PublishKind): void {
    for (const payload of payloads) {
      this.onPublish?.(from, channel, payload);
      const position = this.logs?.position(channel, payload, kind);
      for (const to of this.endpoints) if (to.hears(channel)) this.inFlight.push({ from, to, channel, payload, position });
    }
  }

  /** @internal Loses whatever was in flight to `endpoint`. */
  lose(endpoint: ControlledEndpoint): void {
    for (let i = this.inFlight.length - 1; i >= 0; i--) if (this.inFlight[i]?.to === endpoint) this.inFlight.splice(i, 1);
  }

  private take(index: number): InFlight | undefined {
    const message = this.next(index);
    if (message !== undefined) this.inFlight.splice(this.inFlight.indexOf(message), 1);
    return message;
  }
}

export class ControlledEndpoint implements Transport {
  readonly kind = 'controlled';
  private readonly statuses = new StatusBroadcaster('connected');
  private readonly listeners = new ChannelListeners();
  private readonly writable = new WritableSignal();
  /** Only its publishing side is down (its publishes reject; it still receives). */
  private publisherDown = false;

  /** Replaceable, so a test can make reads of the log fail. */
  log: TransportLog | undefined;

  constructor(
    private readonly bus: ControlledBus,
    readonly index: number,
  ) {
    this.log = bus.logs?.reader(() => (this.status === 'connected' ? undefined : new Error(`endpoint ${this.index} is ${this.status}`)));
  }

  get status(): TransportStatus {
    return this.statuses.status;
  }

  subscribe(channel: string, listener: PayloadListener): Promise<TransportSubscription> {
    this.listeners.add(channel, listener);
    return Promise.resolve({
      unsubscribe: () => {
        this.listeners.remove(channel, listener);
        return Promise.resolve();
      },
    });
  }

  publish(channel: string, payloads: readonly string[], kind: PublishKind = 'entry'): Promise<void> {
    if (this.status !== 'connected') return Promise.reject(new Error(`endpoint ${this.index} is ${this.status}`));
    if (this.publisherDown) return Promise.reject(new Error(`endpoint ${this.index} cannot publish`));
    this.bus.send(this, channel, payloads, kind);
    return Promise.resolve();
  }

  onStatus(listener: StatusListener): () => void {
    return this.statuses.on(listener);
  }

  onWritable(listener: () => void): () => void {
    return this.writable.on(listener);
  }

  /** Only the publishing side fails (as when just the publisher's connection drops): it still hears its channel. */
  breakPublisher(): void {
    this.publisherDown = true;
  }

  restorePublisher(): void {
    if (!this.publisherDown) return;
    this.publisherDown = false;
    this.writable.emit();
  }

  /** The link is lost: nothing is sent or received until `restore()`, and what was in flight to it is gone. */
  break(): void {
    this.bus.lose(this);
    this.statuses.set('disconnected', 'connection-lost');
  }

  restore(): void {
    this.statuses.set('connected', 'connected');
  }

  close(): Promise<void> {
    this.listeners.clear();
    this.bus.lose(this);
    this.statuses.set('closed', 'closed');
    return Promise.resolve();
  }

  /** @internal */
  hears(channel: string): boolean {
    return this.status === 'connected' && this.listeners.hears(channel);
  }

  /** @internal */
  receive(channel: string, payload: string, position: DeliveredPosition | undefined): void {
    if (this.status === 'connected') this.listeners.deliver(channel, payload, position);
  }
}
