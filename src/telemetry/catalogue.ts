/**
 * Every metric the library exports, in one place: name, kind, unit, labels and
 * how to read it from `cache.stats()`. The OTel projection and the prom-client
 * bridge both build from this list, so a dashboard works with either; a test
 * checks both against it. Names follow the OpenTelemetry rules (dotted
 * lowercase, library prefix, UCUM units, no `_total`); `prometheusName` is what
 * @opentelemetry/exporter-prometheus makes of them: dots become underscores and
 * monotonic counters get `_total`, but no unit suffix is added (so the load
 * histogram is `coherent_cache_load_duration`, in seconds, not `..._seconds`).
 *
 * Labels come from small fixed sets. A key is never a label.
 *
 * One name per fact, the event type: a count of an event is the stats field
 * `camelCase(type)` and the metric `coherent_cache.<type>` (snake_case inside a
 * dotted part): `publish.failed` → `publishFailed` → `coherent_cache.publish.failed`
 * → `coherent_cache_publish_failed_total`. A count of an event's flag adds the
 * flag to the event's subject (`publishOverflowed`, `loadServedStale` →
 * `coherent_cache.load.served_stale`), sums of its numeric fields nest under the
 * type (`published.messages`), and an enum field's values are labels (`reason`).
 * Left as they are, and why:
 * - `requests` (`hits`, `misses`) and `loads` (`loads.ok|error|timeout`): the
 *   OpenTelemetry shape for operations, one plural instrument with the result
 *   as an attribute; each folds two events, so no one type can name it.
 * - `link.degradations` (`degradations`): the rule's `coherent_cache.link.degraded`
 *   is the gauge's name, and two instruments cannot share one.
 * - gauges and histograms: they measure a state or a duration, not an event count.
 * - `stale.served` (`staleServed`) sums the event's `reads` rather than counting
 *   events: one event answers every caller of a failed load, and an SRE asks how
 *   many reads got an expired value. `load.served_stale` stays the count of such loads.
 */
import { ACK_COMPLETED, ACK_CONFIRMED, ACK_REQUESTED, ACK_TIMEDOUT, COHERENCE_VIOLATION, VERIFIED } from './catalogue-checks.ts';
import { one, type CounterMetric, type GaugeMetric, type HistogramMetric, type Metric, type Point } from './metric-types.ts';

export { ACK_COMPLETED, ACK_CONFIRMED, ACK_REQUESTED, ACK_TIMEDOUT, COHERENCE_VIOLATION, VERIFIED } from './catalogue-checks.ts';

export type { CounterMetric, GaugeMetric, HistogramMetric, Labels, Metric, Point } from './metric-types.ts';

export const REQUESTS: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.requests',
  prometheusName: 'coherent_cache_requests_total',
  description: 'Reads (get, getSync) by result: hit, or miss with its reason (absent, expired, invalidated)',
  unit: '{request}',
  labels: ['result', 'reason'],
  read: (s) => [
    [{ result: 'hit', reason: 'fresh' }, s.hits],
    [{ result: 'miss', reason: 'absent' }, s.misses.absent],
    [{ result: 'miss', reason: 'expired' }, s.misses.expired],
    [{ result: 'miss', reason: 'invalidated' }, s.misses.invalidated],
  ],
};

export const LOADS: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.loads',
  prometheusName: 'coherent_cache_loads_total',
  description: 'Loader calls by how they ended for their callers: ok, error, timeout',
  unit: '{load}',
  labels: ['outcome'],
  read: (s) => [
    [{ outcome: 'ok' }, s.loads.ok],
    [{ outcome: 'error' }, s.loads.error],
    [{ outcome: 'timeout' }, s.loads.timeout],
  ],
};

export const LOAD_STARTED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.load.started',
  prometheusName: 'coherent_cache_load_started_total',
  description: 'Loader calls started, by reason: miss (a read waits for it), refresh (refreshAhead: a hit reloads in the background), swr (staleWhileRevalidate: a read got the expired value and this load revalidates it)',
  unit: '{load}',
  labels: ['reason'],
  read: (s) => (['miss', 'refresh', 'swr'] as const).map((reason): Point => [{ reason }, s.loadStarted[reason]]),
};

export const STALE_SERVED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.stale.served',
  prometheusName: 'coherent_cache_stale_served_total',
  description: 'Reads answered with an expired value, by reason: swr (at once, while one background load revalidates it) or error (its load failed or timed out: staleIfError)',
  unit: '{request}',
  labels: ['reason'],
  read: (s) => (['swr', 'error'] as const).map((reason): Point => [{ reason }, s.staleServed[reason]]),
};

export const LOAD_JOINED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.load.joined',
  prometheusName: 'coherent_cache_load_joined_total',
  description: 'Callers that joined a load already in flight instead of starting one',
  unit: '{request}',
  labels: [],
  read: (s) => one(s.loadJoined),
};

export const LOAD_SERVED_STALE: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.load.served_stale',
  prometheusName: 'coherent_cache_load_served_stale_total',
  description: 'Failed or timed-out loads answered with the expired value (staleIfError)',
  unit: '{load}',
  labels: [],
  read: (s) => one(s.loadServedStale),
};

export const LOAD_DISCARDED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.load.discarded',
  prometheusName: 'coherent_cache_load_discarded_total',
  description: 'Load results not stored because an invalidation or a newer value overtook them',
  unit: '{load}',
  labels: [],
  read: (s) => one(s.loadDiscarded),
};

export const STORED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.stored',
  prometheusName: 'coherent_cache_stored_total',
  description: 'Values stored, by source: load or set',
  unit: '{entry}',
  labels: ['source'],
  read: (s) => [
    [{ source: 'load' }, s.stored.load],
    [{ source: 'set' }, s.stored.set],
  ],
};

export const EXPIRED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.expired',
  prometheusName: 'coherent_cache_expired_total',
  description: 'Entries dropped after their ttl and stale-if-error window',
  unit: '{entry}',
  labels: [],
  read: (s) => one(s.expired),
};

export const EVICTED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.evicted',
  prometheusName: 'coherent_cache_evicted_total',
  description: 'Values pushed out to make room, by reason: capacity (maxEntries) or size (maxSize), in the eviction policy\'s order',
  unit: '{entry}',
  labels: ['reason'],
  read: (s) => [
    [{ reason: 'capacity' }, s.evicted.capacity],
    [{ reason: 'size' }, s.evicted.size],
  ],
};

export const STORE_REFUSED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.store.refused',
  prometheusName: 'coherent_cache_store_refused_total',
  description: 'Values not stored because sizeOf measured them above maxSize',
  unit: '{entry}',
  labels: [],
  read: (s) => one(s.storeRefused),
};

export const INVALIDATED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.invalidated',
  prometheusName: 'coherent_cache_invalidated_total',
  description: 'Invalidations applied (soft ones too), by origin (local, remote) and scope (key, all, tag, prefix: a namespace)',
  unit: '{invalidation}',
  labels: ['origin', 'scope'],
  read: (s) =>
    (['local', 'remote'] as const).flatMap((origin) => (['key', 'all', 'tag', 'prefix'] as const).map((scope): Point => [{ origin, scope }, s.invalidated[origin][scope]])),
};

export const INVALIDATED_SOFT: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.invalidated.soft',
  prometheusName: 'coherent_cache_invalidated_soft_total',
  description: 'Soft invalidations (expire, expireTag): values made stale but kept for staleIfError, by origin and scope (key, tag)',
  unit: '{invalidation}',
  labels: ['origin', 'scope'],
  read: (s) => (['local', 'remote'] as const).flatMap((origin) => (['key', 'tag'] as const).map((scope): Point => [{ origin, scope }, s.invalidatedSoft[origin][scope]])),
};

export const RESYNCED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.resynced',
  prometheusName: 'coherent_cache_resynced_total',
  description: 'Gaps in the link repaired, by mode: exact (only the keys the log says were invalidated were dropped) or full (everything was dropped)',
  unit: '{resync}',
  labels: ['mode'],
  read: (s) => [
    [{ mode: 'exact' }, s.resynced.exact],
    [{ mode: 'full' }, s.resynced.full],
  ],
};

export const RESYNCED_DROPPED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.resynced.dropped',
  prometheusName: 'coherent_cache_resynced_dropped_total',
  description: 'Live entries dropped by gap repairs, by mode (each one is a load the next read pays)',
  unit: '{entry}',
  labels: ['mode'],
  read: (s) => [
    [{ mode: 'exact' }, s.resyncedDropped.exact],
    [{ mode: 'full' }, s.resyncedDropped.full],
  ],
};

export const RESYNCED_KEPT: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.resynced.kept',
  prometheusName: 'coherent_cache_resynced_kept_total',
  description: 'Live entries exact gap repairs kept: the loads a full resync would have sent to the source',
  unit: '{entry}',
  labels: [],
  read: (s) => one(s.resyncedKept),
};

export const REPAIR_FAILED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.repair.failed',
  prometheusName: 'coherent_cache_repair_failed_total',
  description: 'Reads of the log for a gap repair that failed (retried at the next heartbeat; meanwhile the lease is not renewed)',
  unit: '{read}',
  labels: [],
  read: (s) => one(s.repairFailed),
};

export const DEGRADATIONS: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.link.degradations',
  prometheusName: 'coherent_cache_link_degradations_total',
  description: 'Times the link to the other instances was lost',
  unit: '{event}',
  labels: [],
  read: (s) => one(s.degradations),
};

export const PUBLISHED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.published.messages',
  prometheusName: 'coherent_cache_published_messages_total',
  description: 'Invalidation messages sent to the other instances',
  unit: '{message}',
  labels: [],
  read: (s) => one(s.published.messages),
};

export const PUBLISH_FAILED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.publish.failed',
  prometheusName: 'coherent_cache_publish_failed_total',
  description: 'Publishes that failed (their keys wait in the retry queue)',
  unit: '{publish}',
  labels: [],
  read: (s) => one(s.publishFailed),
};

export const PUBLISH_OVERFLOWED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.publish.overflowed',
  prometheusName: 'coherent_cache_publish_overflowed_total',
  description: 'Times the retry queue overflowed into one clear',
  unit: '{event}',
  labels: [],
  read: (s) => one(s.publishOverflowed),
};

export const PUBLISH_ABANDONED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.publish.abandoned',
  prometheusName: 'coherent_cache_publish_abandoned_total',
  description: 'Invalidations close() could not deliver before its deadline (keys; 1 for a clear)',
  unit: '{key}',
  labels: [],
  read: (s) => one(s.publishAbandoned),
};

export const MESSAGE_REJECTED: CounterMetric = {
  kind: 'counter',
  name: 'coherent_cache.message.rejected',
  prometheusName: 'coherent_cache_message_rejected_total',
  description: 'Received messages refused, by reason',
  unit: '{message}',
  labels: ['reason'],
  read: (s) => Object.entries(s.messageRejected).map(([reason, count]): Point => [{ reason }, count]),
};

export const ENTRIES: GaugeMetric = {
  kind: 'gauge',
  name: 'coherent_cache.entries',
  prometheusName: 'coherent_cache_entries',
  description: 'Entries holding a value (fresh or expired)',
  unit: '{entry}',
  labels: [],
  read: (s) => one(s.size),
};

export const ENTRIES_SIZE: GaugeMetric = {
  kind: 'gauge',
  name: 'coherent_cache.entries.size',
  prometheusName: 'coherent_cache_entries_size',
  description: "Sum of sizeOf() over the entries holding a value, in sizeOf's unit (0 without maxSize); compare with maxSize",
  unit: '1',
  labels: [],
  read: (s) => one(s.entriesSize),
};

export const LOADS_IN_FLIGHT: GaugeMetric = {
  kind: 'gauge',
  name: 'coherent_cache.loads.in_flight',
  prometheusName: 'coherent_cache_loads_in_flight',
  description: 'Loaders still running',
  unit: '{load}',
  labels: [],
  read: (s) => one(s.loadsInFlight),
};

export const DEGRADED: GaugeMetric = {
  kind: 'gauge',
  name: 'coherent_cache.link.degraded',
  prometheusName: 'coherent_cache_link_degraded',
  description: '1 while this instance cannot hear its peers (entries live at most degradedTtl), else 0',
  unit: '1',
  labels: [],
  read: (s) => one(s.link === 'degraded' ? 1 : 0),
};

export const QUEUE_DEPTH: GaugeMetric = {
  kind: 'gauge',
  name: 'coherent_cache.publish.queue.depth',
  prometheusName: 'coherent_cache_publish_queue_depth',
  description: 'Keys waiting in the publish retry queue',
  unit: '{key}',
  labels: [],
  read: (s) => one(s.publishQueueDepth),
};

export const LOAD_DURATION: HistogramMetric = {
  kind: 'histogram',
  name: 'coherent_cache.load.duration',
  prometheusName: 'coherent_cache_load_duration',
  description: 'How long loaders took, by outcome (ok, error)',
  unit: 's',
  labels: ['outcome'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
};

export const PROPAGATION_LAG: HistogramMetric = {
  kind: 'histogram',
  name: 'coherent_cache.propagation.lag',
  prometheusName: 'coherent_cache_propagation_lag',
  description: "Publisher's send to this instance's drop, per received message (receiver clock minus sender clock)",
  unit: 's',
  labels: [],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
};

export const COUNTERS: readonly CounterMetric[] = [
  REQUESTS,
  LOADS,
  LOAD_STARTED,
  LOAD_JOINED,
  LOAD_SERVED_STALE,
  STALE_SERVED,
  LOAD_DISCARDED,
  STORED,
  STORE_REFUSED,
  EXPIRED,
  EVICTED,
  INVALIDATED,
  INVALIDATED_SOFT,
  RESYNCED,
  RESYNCED_DROPPED,
  RESYNCED_KEPT,
  REPAIR_FAILED,
  DEGRADATIONS,
  PUBLISHED,
  PUBLISH_FAILED,
  PUBLISH_OVERFLOWED,
  PUBLISH_ABANDONED,
  MESSAGE_REJECTED,
  ACK_REQUESTED,
  ACK_CONFIRMED,
  ACK_COMPLETED,
  ACK_TIMEDOUT,
  VERIFIED,
  COHERENCE_VIOLATION,
];
export const PEERS: GaugeMetric = {
  kind: 'gauge',
  name: 'coherent_cache.peers',
  prometheusName: 'coherent_cache_peers',
  description: 'Other instances heard on the channel within 2 × degradedTtl (their heartbeats or invalidations)',
  unit: '{instance}',
  labels: [],
  read: (s) => one(s.peers),
};

export const GAUGES: readonly GaugeMetric[] = [ENTRIES, ENTRIES_SIZE, LOADS_IN_FLIGHT, DEGRADED, QUEUE_DEPTH, PEERS];
export const HISTOGRAMS: readonly HistogramMetric[] = [LOAD_DURATION, PROPAGATION_LAG];
export const METRICS: readonly Metric[] = [...COUNTERS, ...GAUGES, ...HISTOGRAMS];

/** The label every metric carries. */
export const CACHE_LABEL = 'cache';
