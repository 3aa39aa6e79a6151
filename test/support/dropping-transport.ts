/**
 * A transport that loses chosen messages on their way in, silently (the link
 * stays up, as with a bug or a lossy relay): wraps any transport, and drops
 * each received payload its `drop` predicate picks. What it dropped is kept.
 */
import type { PayloadListener, StatusListener, Transport, TransportSubscription } from '../../src/transports/transport.ts';

export class DroppingTransport implements Transport {
  readonly dropped: string[] = [];
  /** Picks the payloads to lose; none by default. */
  drop: (payload: string) => boolean = () => false;

  constructor(private readonly inner: Transport) {}

  get kind(): string {
    return this.inner.kind;
  }

  get status(): Transport['status'] {
    return this.inner.status;
  }

  subscribe(channel: string, listener: PayloadListener): Promise<TransportSubscription> {
    return this.inner.subscribe(channel, (payload) => {
      if (this.drop(payload)) this.dropped.push(payload);
      else listener(payload);
    });
  }

  publish(channel: string, payloads: readonly string[]): Promise<void> {
    return this.inner.publish(channel, payloads);
  }

  onStatus(listener: StatusListener): () => void {
    return this.inner.onStatus(listener);
  }

  onWritable(listener: () => void): () => void {
    return this.inner.onWritable?.(listener) ?? (() => undefined);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Drops the next `count` invalidations (del or clear messages) that match, and nothing else. */
export function dropInvalidations(transport: DroppingTransport, count: number, matches: (payload: string) => boolean = () => true): void {
  let left = count;
  transport.drop = (payload) => {
    if (left === 0 || !/"op":"(del|clear)"/.test(payload) || !matches(payload)) return false;
    left--;
    return true;
  };
}
