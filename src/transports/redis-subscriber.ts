/**
 * One subscriber connection to one Redis node, and how healthy it is. A link
 * is `connected` only once its (S)SUBSCRIBE commands were acknowledged on the
 * current connection, so a reconnect cannot pass for healthy before it can hear
 * messages again. A heartbeat PING catches a server that stops answering
 * without closing TCP (paused, partitioned): past `heartbeatTimeout` without a
 * reply the link is lost and the connection is forced to reconnect.
 */
import type { Redis } from 'ioredis';
import type { Deadline } from './deadline.ts';
import type { TransportStatusReason } from './transport.ts';

export interface SubscriberLinkOptions {
  /** SSUBSCRIBE (sharded pub/sub, Redis ≥ 7 cluster) instead of SUBSCRIBE. */
  readonly sharded: boolean;
  readonly heartbeatInterval: number;
  readonly heartbeatTimeout: number;
  /** Whether this link created the connection (and so may quit it). */
  readonly owned: boolean;
  /** Bounds the QUIT of an owned connection when the link closes. */
  readonly closeDeadline: Deadline;
  onPayload(channel: string, payload: string): void;
  onHealth(connected: boolean, reason: TransportStatusReason): void;
}

export class SubscriberLink {
  readonly channels = new Set<string>();
  connected = false;
  private pingSentAt: number | undefined;
  /**
   * No promise job has run since the ping went out: its reply could not have
   * been read yet, however much the clock says passed (a synchronous fake
   * `tick()` fires every interval in one go), so its silence proves nothing.
   */
  private pingUnread = false;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly detach: () => void;

  constructor(
    readonly connection: Redis,
    private readonly options: SubscriberLinkOptions,
  ) {
    const messageEvent = options.sharded ? 'smessage' : 'message';
    const onMessage = (channel: string, payload: string) => {
      if (this.channels.has(channel)) options.onPayload(channel, payload);
    };
    const onReady = () => void this.confirm();
    const onLost = () => this.lose('connection-lost');
    // ioredis reports connection errors here; without a listener it would print them. Health comes from close/ready.
    const onError = () => undefined;
    connection.on(messageEvent, onMessage);
    connection.on('ready', onReady);
    connection.on('close', onLost);
    connection.on('error', onError);
    this.detach = () => {
      connection.off(messageEvent, onMessage);
      connection.off('ready', onReady);
      connection.off('close', onLost);
      connection.off('error', onError);
    };
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatInterval);
    this.heartbeat.unref();
    if (connection.status === 'ready') void this.confirm();
  }

  async add(channel: string): Promise<void> {
    this.channels.add(channel);
    await this.subscribeTo([channel]);
  }

  async remove(channel: string): Promise<void> {
    this.channels.delete(channel);
    if (this.connection.status !== 'ready') return;
    await (this.options.sharded ? this.connection.sunsubscribe(channel) : this.connection.unsubscribe(channel)).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.detach();
    if (!this.options.owned) {
      if (this.channels.size > 0 && this.connection.status === 'ready') {
        const channels = [...this.channels];
        await (this.options.sharded ? this.connection.sunsubscribe(...channels) : this.connection.unsubscribe(...channels)).catch(() => undefined);
      }
      return;
    }
    await quitOrDisconnect(this.connection, this.options.closeDeadline);
  }

  /** (Re)subscribes on the current connection; its acknowledgement is what makes the link healthy. */
  private async confirm(): Promise<void> {
    try {
      await this.subscribeTo([...this.channels]);
      if (!this.closed && this.connection.status === 'ready') this.setHealth(true, 'connected');
    } catch {
      // The connection dropped again: 'close' reports it, and the next 'ready' retries.
    }
  }

  private async subscribeTo(channels: string[]): Promise<void> {
    if (channels.length === 0) {
      await this.connection.ping();
      return;
    }
    await (this.options.sharded ? this.connection.ssubscribe(...channels) : this.connection.subscribe(...channels));
  }

  private beat(): void {
    if (this.closed || !this.connected) return;
    const now = Date.now();
    if (this.pingSentAt !== undefined) {
      if (this.pingUnread || now - this.pingSentAt < this.options.heartbeatTimeout) return;
      // No answer, no close: the server or the path to it is stuck. Reconnecting re-proves the subscription.
      this.pingSentAt = undefined;
      this.lose('heartbeat-timeout');
      this.connection.disconnect(true);
      return;
    }
    this.pingSentAt = now;
    this.pingUnread = true;
    void Promise.resolve().then(() => (this.pingUnread = false));
    this.connection.ping().then(
      () => {
        this.pingSentAt = undefined;
      },
      () => {
        this.pingSentAt = undefined;
      },
    );
  }

  private lose(reason: TransportStatusReason): void {
    if (this.closed) return;
    this.pingSentAt = undefined;
    this.setHealth(false, reason);
  }

  private setHealth(connected: boolean, reason: TransportStatusReason): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.options.onHealth(connected, reason);
  }
}

/** What closing needs of an ioredis connection (a Cluster has no socket of its own). */
interface Closable {
  readonly status: string;
  quit(): Promise<unknown>;
  disconnect(): void;
  readonly stream?: { readonly destroyed: boolean; destroy(): void; once(event: 'close', listener: () => void): unknown } | undefined;
}

/**
 * QUIT when the connection can answer it, within `deadline`; otherwise
 * (connecting, reconnecting, or no answer in time) just drop it. A server that
 * stopped answering (paused, partitioned) never replies to QUIT nor completes
 * the TCP close, so the socket is destroyed rather than left to ioredis's own
 * close timer. Resolves once the socket is closed: nothing of the connection
 * outlives this call.
 */
export async function quitOrDisconnect(connection: Closable, deadline: Deadline): Promise<void> {
  if (connection.status === 'end') return;
  const socket = connection.stream?.destroyed === false ? connection.stream : undefined;
  const socketClosed = socket === undefined ? undefined : new Promise<void>((resolve) => socket.once('close', resolve));
  if (connection.status === 'ready') {
    try {
      // Answered, and the server closed its side.
      await deadline.bound(Promise.all([connection.quit(), socketClosed]));
      return;
    } catch {
      // No answer in time (or the connection broke meanwhile): drop it below.
    }
  }
  connection.disconnect();
  socket?.destroy();
  await socketClosed;
}
