/**
 * Connects one cache to its peers over a Transport: subscribes to the cache's
 * channel (and the legacy one), turns every payload into a `receive` command
 * (the cache's own echo is skipped without decoding) and every change of the
 * transport's status into a `link` command, and hands outgoing invalidations
 * to the outbox. What each of these means for the cache is `decide`'s call.
 */
import type { Command } from '../core/commands.ts';
import type { EffectOf } from '../core/effects.ts';
import type { CacheState } from '../core/state.ts';
import type { Clock } from '../cache/clock.ts';
import type { TraceHooks } from '../cache/tracing.ts';
import type { ProtocolLimits, Secret } from '../protocol/message.ts';
import type { Transport, TransportStatusChange, TransportSubscription } from '../transports/transport.ts';
import { readPayload } from './inbox.ts';
import { Outbox } from './outbox.ts';

export interface CoherenceSettings {
  readonly transport: Transport;
  readonly channel: string;
  /** Also speak the original module's format on this channel (migration). */
  readonly legacyChannel: string | undefined;
  readonly secret: Secret | undefined;
  readonly limits: ProtocolLimits;
}

/** The parts of the cache coherence needs. */
export interface CoherenceHost<V> {
  readonly cacheName: string;
  readonly instanceId: string;
  readonly clock: Clock;
  /** The folded state (read only): the link and the retry queue. */
  readonly state: CacheState<V>;
  readonly trace: TraceHooks;
  dispatch(command: Command<V>): void;
}

export class Coherence<V> {
  private readonly outbox: Outbox<V>;
  private readonly subscriptions: Promise<TransportSubscription>[] = [];
  private readonly stopStatus: () => void;
  /** Every channel subscription is in place: only then can the transport's `connected` be believed. */
  private subscribed = false;
  private readyWaiters: PromiseWithResolvers<void> | undefined;
  private closed = false;

  constructor(
    private readonly host: CoherenceHost<V>,
    private readonly settings: CoherenceSettings,
  ) {
    const { transport } = settings;
    const now = () => host.clock.exact();
    this.outbox = new Outbox<V>({ cacheName: host.cacheName, instanceId: host.instanceId, retryQueue: host.state.retryQueue, trace: host.trace, now, dispatch: (command) => host.dispatch(command) }, settings);
    this.stopStatus = transport.onStatus((change) => this.onStatus(change));
    // Until the subscription is in place this instance cannot hear its peers.
    host.dispatch({ type: 'link', at: now(), status: 'degraded', reason: 'starting' });
    const subscribed = [transport.subscribe(settings.channel, (payload) => this.receive(payload, false))];
    if (settings.legacyChannel !== undefined) {
      subscribed.push(transport.subscribe(settings.legacyChannel, (payload) => this.receive(payload, true)));
    }
    this.subscriptions.push(...subscribed);
    Promise.all(subscribed).then(
      () => {
        this.subscribed = true;
        if (transport.status === 'connected') this.link('connected', 'connected');
      },
      // A transport that cannot subscribe yet reports 'connected' once it can.
      () => undefined,
    );
  }

  /** Resolves once the link is up (immediately when it is). */
  ready(): Promise<void> {
    if (this.host.state.link === 'connected') return Promise.resolve();
    this.readyWaiters ??= Promise.withResolvers<void>();
    return this.readyWaiters.promise;
  }

  publish(effect: EffectOf<'publish'>): Promise<void> {
    return this.outbox.publish(effect);
  }

  flush(): Promise<void> {
    return this.outbox.flush();
  }

  armRetry(afterMs: number): void {
    this.outbox.armRetry(afterMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.outbox.close();
    this.closed = true;
    this.stopStatus();
    // A subscription still pending (the transport never connected) is undone whenever it completes; close does not wait for it.
    const unsubscribed = this.subscriptions.map((pending) =>
      Promise.race([pending.then((subscription) => subscription.unsubscribe()), Promise.resolve()]).catch(() => undefined),
    );
    await Promise.all(unsubscribed);
  }

  private receive(payload: string, legacy: boolean): void {
    if (this.closed || (!legacy && this.outbox.echoes.take(payload))) return;
    const { host, settings } = this;
    const at = host.clock.exact();
    const message = readPayload(payload, legacy, { cacheName: host.cacheName, limits: settings.limits, secret: settings.secret });
    const channel = legacy ? (settings.legacyChannel ?? settings.channel) : settings.channel;
    host.dispatch({ type: 'receive', at, channel, message });
  }

  private onStatus(change: TransportStatusChange): void {
    if (this.closed) return;
    if (change.status === 'connected') {
      if (this.subscribed) this.link('connected', 'connected');
    } else if (change.reason !== 'closed') {
      this.link('degraded', change.reason === 'heartbeat-timeout' ? 'heartbeat-timeout' : 'connection-lost');
    }
  }

  private link(status: 'connected' | 'degraded', reason: 'connected' | 'connection-lost' | 'heartbeat-timeout'): void {
    this.host.dispatch({ type: 'link', at: this.host.clock.exact(), status, reason });
    if (this.host.state.link === 'connected' && this.readyWaiters !== undefined) {
      this.readyWaiters.resolve();
      this.readyWaiters = undefined;
    }
  }
}
