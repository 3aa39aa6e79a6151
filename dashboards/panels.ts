/**
 * What the dashboard shows, as data: one entry per panel with its PromQL.
 * `generate.ts` turns this into the Grafana JSON that ships; tests parse every
 * query and check each metric name against the library's catalogue.
 *
 * `$cache` is the dashboard's cache variable (a regex: multi-select, "All" = .*),
 * `$__rate_interval` Grafana's rate window.
 */

export interface PanelQuery {
  readonly expr: string;
  readonly legend: string;
}

export interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly kind: 'timeseries' | 'stat';
  /** Grafana unit id. */
  readonly unit: string;
  readonly queries: readonly PanelQuery[];
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

const sel = (extra = '') => `{cache=~"$cache"${extra}}`;
const rate = (metric: string, extra = '') => `rate(${metric}${sel(extra)}[$__rate_interval])`;
const hitRatio = `sum by (cache) (${rate('coherent_cache_requests_total', ',result="hit"')}) / sum by (cache) (${rate('coherent_cache_requests_total')})`;
const quantile = (q: number, metric: string) => `histogram_quantile(${q}, sum by (le, cache) (${rate(metric)}))`;
/**
 * A per-cache quantile that reads 0, not "no data", before its first sample: the OpenTelemetry exporter has no
 * histogram series yet, prom-client's are all zero and histogram_quantile gives NaN (`>= 0` drops it; a quantile
 * of these buckets is never below 0). The 0 comes per cache from a gauge every cache exports from its creation on.
 */
const quantileOrZero = (q: number, metric: string) => `(${quantile(q, metric)} >= 0) or on (cache) (0 * max by (cache) (coherent_cache_link_degraded${sel()}))`;

export const ROWS: readonly RowSpec[] = [
  {
    title: 'Requests',
    panels: [
      {
        title: 'Hit ratio',
        description: 'Share of reads answered from the cache, now.',
        kind: 'stat',
        unit: 'percentunit',
        queries: [{ expr: hitRatio, legend: '{{cache}}' }],
      },
      {
        title: 'Hit ratio trend',
        description: 'Share of reads answered from the cache over time. A drop after deploys or invalidation storms is expected; a lasting drop is not.',
        kind: 'timeseries',
        unit: 'percentunit',
        queries: [{ expr: hitRatio, legend: '{{cache}}' }],
      },
      {
        title: 'Requests by result',
        description: 'Reads per second: hits, and misses by reason (absent, expired, invalidated).',
        kind: 'timeseries',
        unit: 'reqps',
        queries: [{ expr: `sum by (cache, result, reason) (${rate('coherent_cache_requests_total')})`, legend: '{{cache}} {{result}} {{reason}}' }],
      },
    ],
  },
  {
    title: 'Loads',
    panels: [
      {
        title: 'Loads by outcome',
        description: 'Loader calls per second (concurrent callers of one key share one load).',
        kind: 'timeseries',
        unit: 'ops',
        queries: [
          { expr: `sum by (cache, outcome) (${rate('coherent_cache_loads_total')})`, legend: '{{cache}} {{outcome}}' },
          { expr: `sum by (cache) (${rate('coherent_cache_load_joined_total')})`, legend: '{{cache}} joined callers' },
        ],
      },
      {
        title: 'Load latency',
        description: 'How long loaders take: p50, p95, p99.',
        kind: 'timeseries',
        unit: 's',
        queries: [
          { expr: quantile(0.5, 'coherent_cache_load_duration_bucket'), legend: '{{cache}} p50' },
          { expr: quantile(0.95, 'coherent_cache_load_duration_bucket'), legend: '{{cache}} p95' },
          { expr: quantile(0.99, 'coherent_cache_load_duration_bucket'), legend: '{{cache}} p99' },
        ],
      },
      {
        title: 'Load errors',
        description: 'Loads that failed or timed out, and those answered with a stale value instead (staleIfError).',
        kind: 'timeseries',
        unit: 'ops',
        queries: [
          { expr: `sum by (cache, outcome) (${rate('coherent_cache_loads_total', ',outcome=~"error|timeout"')})`, legend: '{{cache}} {{outcome}}' },
          { expr: `sum by (cache) (${rate('coherent_cache_load_served_stale_total')})`, legend: '{{cache}} served stale' },
        ],
      },
      {
        title: 'Background loads and stale reads',
        description: 'Loads no read waits for (refresh: refreshAhead; swr: staleWhileRevalidate), and reads answered with an expired value by reason (swr: while revalidating; error: staleIfError).',
        kind: 'timeseries',
        unit: 'ops',
        queries: [
          { expr: `sum by (cache, reason) (${rate('coherent_cache_load_started_total', ',reason=~"refresh|swr"')})`, legend: '{{cache}} {{reason}} loads' },
          { expr: `sum by (cache, reason) (${rate('coherent_cache_stale_served_total')})`, legend: '{{cache}} stale reads ({{reason}})' },
        ],
      },
    ],
  },
  {
    title: 'Entries',
    panels: [
      {
        title: 'Entries',
        description: 'Entries holding a value, summed over instances.',
        kind: 'timeseries',
        unit: 'short',
        queries: [{ expr: `sum by (cache) (coherent_cache_entries${sel()})`, legend: '{{cache}}' }],
      },
      {
        title: 'Evictions and expirations',
        description:
          'Values pushed out by maxEntries (capacity) or maxSize (size): size the cache up if this is steady; values refused for being larger than maxSize by themselves; entries that outlived their ttl.',
        kind: 'timeseries',
        unit: 'ops',
        queries: [
          { expr: `sum by (cache, reason) (${rate('coherent_cache_evicted_total')})`, legend: '{{cache}} evicted ({{reason}})' },
          { expr: `sum by (cache) (${rate('coherent_cache_store_refused_total')})`, legend: '{{cache}} refused (too large)' },
          { expr: `sum by (cache) (${rate('coherent_cache_expired_total')})`, legend: '{{cache}} expired' },
        ],
      },
    ],
  },
  {
    title: 'Coherence',
    panels: [
      {
        title: 'Invalidations: local vs remote',
        description: 'Invalidations applied per second, by origin (this instance, or another one through the transport) and scope (key, all, tag, prefix: a namespace); the soft ones (expire, expireTag) again on their own.',
        kind: 'timeseries',
        unit: 'ops',
        queries: [
          { expr: `sum by (cache, origin, scope) (${rate('coherent_cache_invalidated_total')})`, legend: '{{cache}} {{origin}} {{scope}}' },
          { expr: `sum by (cache, origin, scope) (${rate('coherent_cache_invalidated_soft_total')})`, legend: '{{cache}} {{origin}} {{scope}} soft' },
        ],
      },
      {
        title: 'Propagation lag',
        description: "From the publisher's send to this instance's drop: p50 and p99.",
        kind: 'timeseries',
        unit: 's',
        queries: [
          { expr: quantileOrZero(0.5, 'coherent_cache_propagation_lag_bucket'), legend: '{{cache}} p50' },
          { expr: quantileOrZero(0.99, 'coherent_cache_propagation_lag_bucket'), legend: '{{cache}} p99' },
        ],
      },
      {
        title: 'Publish failures and retry queue',
        description: 'Failed publishes per second (their keys wait in the retry queue) and the keys waiting now.',
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum by (cache) (${rate('coherent_cache_publish_failed_total')})`, legend: '{{cache}} failed/s' },
          { expr: `sum by (cache) (coherent_cache_publish_queue_depth${sel()})`, legend: '{{cache}} queued keys' },
        ],
      },
      {
        title: 'Rejected messages',
        description: 'Messages refused on the channel, by reason (malformed, oversized, other version, unsigned or forged, other cache).',
        kind: 'timeseries',
        unit: 'short',
        queries: [{ expr: `sum by (cache, reason) (${rate('coherent_cache_message_rejected_total')})`, legend: '{{cache}} {{reason}}' }],
      },
    ],
  },
  {
    title: 'Link and gap repair',
    panels: [
      {
        title: 'Degraded instances and failed repairs',
        description:
          "Instances that cannot hear their peers now (entries live at most degradedTtl), and reads of the transport's log for a gap repair that failed (retried at the next heartbeat; the lease is not renewed meanwhile).",
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum by (cache) (coherent_cache_link_degraded${sel()})`, legend: '{{cache}} degraded instances' },
          { expr: `sum by (cache) (increase(coherent_cache_repair_failed_total${sel()}[$__rate_interval]))`, legend: '{{cache}} failed repairs' },
        ],
      },
      {
        title: 'Resyncs by mode',
        description:
          "Gap repairs and the live entries they dropped (each a later load), by mode. exact: the log covered the gap, only its keys went. full: everything went (no log, log trimmed or reset, a peer without the log). Every start with a log makes one full resync that drops nothing.",
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum by (cache, mode) (increase(coherent_cache_resynced_total${sel()}[$__rate_interval]))`, legend: '{{cache}} {{mode}} resyncs' },
          { expr: `sum by (cache, mode) (increase(coherent_cache_resynced_dropped_total${sel()}[$__rate_interval]))`, legend: '{{cache}} {{mode}} entries dropped' },
        ],
      },
    ],
  },
  {
    title: 'Verification and acknowledged invalidations',
    panels: [
      {
        title: 'Coherence violations',
        description:
          'Sampled hits (verify option) whose value the loader contradicts with no invalidation to explain it: lost or missing invalidations. Should stay at 0; cache.violations() on the instance keeps the events around each. Beside them, the verifications that found nothing wrong, by outcome.',
        kind: 'timeseries',
        unit: 'short',
        queries: [
          { expr: `sum by (cache) (increase(coherent_cache_coherence_violation_total${sel()}[$__rate_interval]))`, legend: '{{cache}} violations' },
          { expr: `sum by (cache, outcome) (${rate('coherent_cache_verified_total')})`, legend: '{{cache}} verified {{outcome}}/s' },
        ],
      },
      {
        title: 'Acknowledged invalidations',
        description: "Invalidations with ack: 'all' per second, and those some peer did not confirm in time (AckTimeoutError names the peers).",
        kind: 'timeseries',
        unit: 'ops',
        queries: [
          { expr: `sum by (cache) (${rate('coherent_cache_ack_requested_total')})`, legend: '{{cache}} requested' },
          { expr: `sum by (cache) (${rate('coherent_cache_ack_timedout_total')})`, legend: '{{cache}} timed out' },
        ],
      },
    ],
  },
];
