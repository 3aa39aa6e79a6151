/**
 * The prom-client bridge: the catalogue's figures in a caller's prom-client
 * Registry, under exactly the names and labels the OpenTelemetry Prometheus
 * exporter gives them (`prometheusName`; `cache` plus the metric's labels),
 * so one dashboard serves both paths.
 *
 * Counters and gauges read `cache.stats()` when the registry is scraped (the
 * hit path pays nothing per call): each counter is reset and refilled with the
 * absolute totals, which keeps the exposition type `counter`. One stats
 * snapshot per cache serves every metric of a scrape. The two histograms are
 * fed from the events that carry their samples (histogram-feed.ts).
 *
 * Caches on one registry share its metric objects, a `cache` label apart;
 * unregistering a cache removes only its series (and the metrics themselves
 * once no cache is left). Two caches with the same name on one registry add
 * up (one series per name). Labels come from the catalogue's fixed sets:
 * never a key, never a value.
 *
 * prom-client is an optional peer dependency: it is loaded on the first
 * `registerPrometheus` call, so importing coherent-cache never needs it.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Cache, CacheStats } from '../cache/cache.ts';
import type { Unsubscribe } from '../projections/listeners.ts';
import { CACHE_LABEL, COUNTERS, GAUGES, LOAD_DURATION, PROPAGATION_LAG, type CounterMetric, type GaugeMetric, type HistogramMetric, type Labels } from './catalogue.ts';
import { feedHistograms } from './histogram-feed.ts';
import { afterThisTick } from '../cache/defer.ts';

export interface PrometheusOptions {
  /** Default: prom-client's global registry (`register`). */
  registry?: Registry;
}

type PromMetric = Counter<string> | Gauge<string> | Histogram<string>;

interface Member {
  readonly name: string;
  readonly stats: () => CacheStats;
}

let promClient: typeof PromClient | undefined;

function loadPromClient(): typeof PromClient {
  if (promClient === undefined) {
    try {
      // prom-client is CommonJS: require() loads it synchronously, and only when a cache is registered.
      promClient = createRequire(import.meta.url)('prom-client') as typeof PromClient;
    } catch (error) {
      throw new Error('registerPrometheus needs the prom-client package (an optional peer dependency of coherent-cache): npm install prom-client', { cause: error });
    }
  }
  return promClient;
}

/** The metric objects of one registry, shared by every cache registered on it. */
class RegistryBridge {
  readonly members = new Set<Member>();
  readonly metrics: PromMetric[] = [];
  readonly loadDuration: Histogram<string>;
  readonly propagationLag: Histogram<string>;
  private snapshot: Map<Member, CacheStats> | undefined;

  constructor(prom: typeof PromClient) {
    const points = (metric: CounterMetric | GaugeMetric) => this.points(metric);
    for (const metric of COUNTERS) {
      this.metrics.push(
        new prom.Counter({
          ...base(metric),
          collect(this: Counter<string>) {
            this.reset();
            for (const [labels, value] of points(metric)) this.inc(labels, value);
          },
        }),
      );
    }
    for (const metric of GAUGES) {
      this.metrics.push(
        new prom.Gauge({
          ...base(metric),
          collect(this: Gauge<string>) {
            this.reset();
            // inc, not set: two caches of the same name add up, as their counters do.
            for (const [labels, value] of points(metric)) this.inc(labels, value);
          },
        }),
      );
    }
    this.loadDuration = new prom.Histogram({ ...base(LOAD_DURATION), buckets: [...LOAD_DURATION.buckets] });
    this.propagationLag = new prom.Histogram({ ...base(PROPAGATION_LAG), buckets: [...PROPAGATION_LAG.buckets] });
    this.metrics.push(this.loadDuration, this.propagationLag);
  }

  /** Registers the metric objects that are not (or no longer: `registry.clear()`) on the registry; all or none. */
  attach(registry: Registry): void {
    const added: PromMetric[] = [];
    try {
      for (const metric of this.metrics) {
        const name = nameOf(metric);
        if (registry.getSingleMetric(name) === metric) continue;
        registry.registerMetric(metric);
        added.push(metric);
      }
    } catch (error) {
      for (const metric of added) registry.removeSingleMetric(nameOf(metric));
      throw error;
    }
  }

  detach(registry: Registry): void {
    for (const metric of this.metrics) {
      const name = nameOf(metric);
      if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
    }
  }

  hasOtherNamed(name: string, except: Member): boolean {
    for (const member of this.members) if (member !== except && member.name === name) return true;
    return false;
  }

  /** A metric's points for every registered cache, labelled with the cache name. */
  *points(metric: CounterMetric | GaugeMetric): Generator<[Labels, number]> {
    for (const [member, stats] of this.stats()) {
      for (const [labels, value] of metric.read(stats)) yield [{ [CACHE_LABEL]: member.name, ...labels }, value];
    }
  }

  /**
   * One `stats()` per cache per scrape: prom-client runs every metric's
   * `collect` in one synchronous pass, so the snapshot is dropped on the next
   * microtask. It also makes the figures of one scrape consistent.
   */
  private stats(): Map<Member, CacheStats> {
    if (this.snapshot === undefined) {
      const snapshot = new Map<Member, CacheStats>();
      for (const member of this.members) snapshot.set(member, member.stats());
      this.snapshot = snapshot;
      void afterThisTick(() => (this.snapshot = undefined));
    }
    return this.snapshot;
  }
}

function base(metric: CounterMetric | GaugeMetric | HistogramMetric): { name: string; help: string; labelNames: string[]; registers: Registry[] } {
  // Registered by RegistryBridge.attach, not by the constructor.
  return { name: metric.prometheusName, help: metric.description, labelNames: [CACHE_LABEL, ...metric.labels], registers: [] };
}

function nameOf(metric: PromMetric): string {
  // Every prom-client metric object carries its name; the typings leave it out.
  return (metric as unknown as { name: string }).name;
}

const bridges = new WeakMap<Registry, RegistryBridge>();

/**
 * Exports a cache's metrics through a prom-client Registry (default: the
 * global one). Returns the function that removes the cache's series; closing
 * the cache does it too.
 */
export function registerPrometheus<V>(cache: Cache<V>, options: PrometheusOptions = {}): Unsubscribe {
  const prom = loadPromClient();
  const registry = options.registry ?? prom.register;
  let bridge = bridges.get(registry);
  const created = bridge === undefined;
  bridge ??= new RegistryBridge(prom);
  bridge.attach(registry);
  if (created) bridges.set(registry, bridge);

  const member: Member = { name: cache.name, stats: () => cache.stats() };
  const cacheLabels = { [CACHE_LABEL]: cache.name };
  const byOutcome = { ok: { ...cacheLabels, outcome: 'ok' }, error: { ...cacheLabels, outcome: 'error' } };
  const { loadDuration, propagationLag } = bridge;
  // Series exist from the start (rate() of an idle cache is 0, not "no data"); zero() would wipe a same-named cache's samples.
  if (!bridge.hasOtherNamed(cache.name, member)) {
    loadDuration.zero(byOutcome.ok);
    loadDuration.zero(byOutcome.error);
    propagationLag.zero(cacheLabels);
  }
  bridge.members.add(member);
  const stopFeed = feedHistograms(cache, {
    loadDuration: (seconds, outcome) => loadDuration.observe(byOutcome[outcome], seconds),
    propagationLag: (seconds) => propagationLag.observe(cacheLabels, seconds),
  });

  const owner = bridge;
  let registered = true;
  const unregister = (): void => {
    if (!registered) return;
    registered = false;
    stopFeed();
    owner.members.delete(member);
    if (!owner.hasOtherNamed(cache.name, member)) {
      loadDuration.remove(byOutcome.ok);
      loadDuration.remove(byOutcome.error);
      propagationLag.remove(cacheLabels);
    }
    if (owner.members.size === 0) {
      owner.detach(registry);
      bridges.delete(registry);
    }
  };
  // Closing the cache removes its series too.
  const cancelHook = cache.onClose(unregister);
  return () => {
    cancelHook();
    unregister();
  };
}
