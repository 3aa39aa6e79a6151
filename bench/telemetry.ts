/**
 * Telemetry overhead on the hit paths: the same `getSync` / `await get` loops
 * with no telemetry, and with the OpenTelemetry SDK attached (a MeterProvider
 * whose reader is the Prometheus exporter, serving on a loopback port, and a
 * TracerProvider with a span processor), scraped once per sample so the
 * collection cost is in the figures too. Counters are observable instruments
 * that read stats() at collection, so a hit should cost the same.
 */
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createCache, otelTracing, type Cache } from '../src/index.ts';
import { measure, type Bench, type ScenarioContext } from './harness.ts';
import { HIT_MAX, HIT_TTL_MS, keys, missesOf, valueOf, walk, WALK_MASK } from './keys.ts';
import type { Row, Section } from './report.ts';

export const id = 'telemetry';
const MAX_RATIO = 1.05;

function filledCache(name: string, telemetry: { meterProvider: MeterProvider; tracerProvider: TracerProvider } | undefined): Cache<number> {
  const cache = createCache<number>({
    name,
    ttl: HIT_TTL_MS,
    maxEntries: HIT_MAX,
    metrics: telemetry === undefined ? false : { meterProvider: telemetry.meterProvider },
    tracing: telemetry === undefined ? false : otelTracing({ tracerProvider: telemetry.tracerProvider }),
  });
  for (const key of keys) cache.set(key, valueOf(key));
  return cache;
}

export async function run(context: ScenarioContext): Promise<Section> {
  const exporter = new PrometheusExporter({ host: '127.0.0.1', port: 0, preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })] });
  const plain = filledCache('bench-plain', undefined);
  const observed = filledCache('bench-observed', { meterProvider, tracerProvider });
  const loader = (key: string): number => valueOf(key);
  let scrapes = 0;
  // What a Prometheus scrape does, without the HTTP: collect and serialize every metric.
  const scrape = async (): Promise<void> => {
    const { resourceMetrics } = await exporter.collect();
    if (resourceMetrics.scopeMetrics.length > 0) scrapes++;
  };

  const syncLoop = (cache: Cache<number>) => {
    let cursor = 0;
    return (n: number): number => {
      let acc = 0;
      let c = cursor;
      for (let i = 0; i < n; i++) acc ^= cache.getSync(keys[walk[c++ & WALK_MASK] as number] as string, loader);
      cursor = c & WALK_MASK;
      return acc;
    };
  };
  const asyncLoop = (cache: Cache<number>, collect: boolean) => {
    let cursor = 0;
    return async (n: number): Promise<number> => {
      let acc = 0;
      let c = cursor;
      for (let i = 0; i < n; i++) acc ^= await cache.get(keys[walk[c++ & WALK_MASK] as number] as string, loader);
      cursor = c & WALK_MASK;
      if (collect) await scrape();
      return acc;
    };
  };
  const observedSync = syncLoop(observed);
  const benches: Bench[] = [
    { name: 'getSync, no telemetry', run: syncLoop(plain) },
    {
      name: 'getSync, OTel SDK + Prometheus',
      run: async (n) => {
        const acc = observedSync(n);
        await scrape();
        return acc;
      },
    },
    { name: 'get, no telemetry', run: asyncLoop(plain, false) },
    { name: 'get, OTel SDK + Prometheus', run: asyncLoop(observed, true) },
  ];
  context.log(`${id}: timing ${benches.length} benchmarks`);
  const timings = await measure(benches, context.timing);
  const misses = missesOf(plain.stats()) + missesOf(observed.stats());
  if (misses !== 0 || scrapes === 0) throw new Error(`${id}: ${misses} misses, ${scrapes} scrapes`);
  await Promise.all([plain.close(), observed.close()]);
  await meterProvider.shutdown();
  await tracerProvider.shutdown();

  const byName = new Map(timings.map((t) => [t.name, t]));
  const rows: Row[] = timings.map((t) => {
    const baseline = byName.get(t.name.replace('OTel SDK + Prometheus', 'no telemetry'));
    const row: Row = { name: t.name, value: t.nsPerOp, spread: t.spread, extra: { opsPerSample: t.opsPerSample } };
    if (baseline === undefined || baseline === t) return row;
    const ratio = t.nsPerOp / baseline.nsPerOp;
    const noise = Math.hypot(t.spread, baseline.spread);
    return { ...row, ratio, verdict: ratio <= MAX_RATIO ? 'PASS' : 'MISS', marginal: Math.abs(ratio / MAX_RATIO - 1) < noise };
  });
  return {
    id,
    title: 'Telemetry overhead on the hit paths',
    unit: 'ns/op',
    target: `with the OTel SDK and Prometheus exporter ≤ ${MAX_RATIO}× the same path without telemetry`,
    columns: [{ key: 'opsPerSample', label: 'ops/sample', digits: 0 }],
    rows,
    notes: [
      'ratio: each "OTel SDK + Prometheus" row against the "no telemetry" row of the same path',
      `a full collection (what a scrape does) runs after every sample of the telemetry rows: ${scrapes} collections, counted in their time`,
      'spans are not on the hit path (a span per load, publish and received message only)',
    ],
    details: { timings },
  };
}
