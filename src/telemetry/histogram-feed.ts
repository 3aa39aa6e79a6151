/**
 * Feeds the two histograms from the events that carry their samples: load
 * durations from `loaded`, propagation lag from remote `invalidated` events
 * (once per received message: the events of one message share their `remote`
 * object). Shared by the OTel projection and the prom-client bridge.
 */
import type { Cache } from '../cache/cache.ts';
import type { Unsubscribe } from '../projections/listeners.ts';
import type { RemoteSource } from '../core/events.ts';

export interface HistogramSink {
  loadDuration(seconds: number, outcome: 'ok' | 'error'): void;
  propagationLag(seconds: number): void;
}

export function feedHistograms<V>(cache: Cache<V>, sink: HistogramSink): Unsubscribe {
  let lastRemote: RemoteSource | undefined;
  const timedOut = new Set<number>();
  const stopTimeouts = cache.on('load.timedout', (event) => void timedOut.add(event.loadId));
  const stopLoads = cache.on('loaded', (event) => {
    // A load that outlived its timeout was already answered; its late end is not a caller-visible duration.
    // A background load (no waiter) is the loader's health all the same.
    if (!timedOut.delete(event.loadId)) sink.loadDuration(event.durationMs / 1000, event.outcome);
  });
  const stopLag = cache.on('invalidated', (event) => {
    const remote = event.remote;
    if (remote === undefined || remote === lastRemote || remote.sentAt === undefined) return;
    lastRemote = remote;
    // Clocks of two hosts can disagree; a negative lag is skew, not time travel.
    sink.propagationLag(Math.max(0, event.at - remote.sentAt) / 1000);
  });
  return () => {
    stopTimeouts();
    stopLoads();
    stopLag();
  };
}
