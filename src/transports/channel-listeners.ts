/** The listeners of each channel a transport subscribed to: the bookkeeping every transport shares. */
import { deliverPayload, type DeliveredPosition, type PayloadListener } from './transport.ts';

export class ChannelListeners {
  private readonly byChannel = new Map<string, Set<PayloadListener>>();

  /** Adds `listener` to `channel`; true when it is the channel's first (the transport then subscribes to it). */
  add(channel: string, listener: PayloadListener): boolean {
    let set = this.byChannel.get(channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.byChannel.set(channel, set);
    }
    set.add(listener);
    return first;
  }

  /** Removes `listener` from `channel`; true when that left the channel without any (the transport then unsubscribes). */
  remove(channel: string, listener: PayloadListener): boolean {
    const set = this.byChannel.get(channel);
    if (set === undefined || !set.delete(listener) || set.size > 0) return false;
    this.byChannel.delete(channel);
    return true;
  }

  hears(channel: string): boolean {
    return (this.byChannel.get(channel)?.size ?? 0) > 0;
  }

  /** Hands `payload` to the channel's listeners (see deliverPayload). */
  deliver(channel: string, payload: string, position?: DeliveredPosition): void {
    deliverPayload(this.byChannel.get(channel), payload, position);
  }

  channels(): IterableIterator<string> {
    return this.byChannel.keys();
  }

  clear(): void {
    this.byChannel.clear();
  }
}
