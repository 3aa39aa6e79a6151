/** The catalogue's metrics of the coherence checks: acknowledged invalidations and verification (see catalogue.ts for the rules). */
import { one, type CounterMetric } from './metric-types.ts';

export const ACK_REQUESTED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.ack.requested',
  prometheusName: 'coherent_cache_ack_requested_total',
  description: "Invalidations that asked every live peer to confirm (invalidate with ack: 'all')",
  unit: '{request}',
  labels: [],
  read: (s) => one(s.ackRequested),
};

export const ACK_CONFIRMED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.ack.confirmed',
  prometheusName: 'coherent_cache_ack_confirmed_total',
  description: 'Confirmations received from peers (one per peer and request)',
  unit: '{confirmation}',
  labels: [],
  read: (s) => one(s.ackConfirmed),
};

export const ACK_COMPLETED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.ack.completed',
  prometheusName: 'coherent_cache_ack_completed_total',
  description: 'Acknowledged invalidations every awaited peer confirmed (or was lost meanwhile)',
  unit: '{request}',
  labels: [],
  read: (s) => one(s.ackCompleted),
};

export const ACK_TIMEDOUT: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.ack.timedout',
  prometheusName: 'coherent_cache_ack_timedout_total',
  description: 'Acknowledged invalidations some peer did not confirm in time (AckTimeoutError)',
  unit: '{request}',
  labels: [],
  read: (s) => one(s.ackTimedout),
};

export const VERIFIED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.verified',
  prometheusName: 'coherent_cache_verified_total',
  description: 'Sampled hits re-loaded that found no violation, by outcome: match, explained (an invalidation came), error (the loader failed)',
  unit: '{verification}',
  labels: ['outcome'],
  read: (s) => [
    [{ outcome: 'match' }, s.verified.match],
    [{ outcome: 'explained' }, s.verified.explained],
    [{ outcome: 'error' }, s.verified.error],
  ],
};

export const COHERENCE_VIOLATION: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.coherence.violation',
  prometheusName: 'coherent_cache_coherence_violation_total',
  description: 'Sampled hits whose value the loader contradicts with no invalidation to explain it (verify option): a lost or missing invalidation',
  unit: '{violation}',
  labels: [],
  read: (s) => one(s.coherenceViolation),
};
