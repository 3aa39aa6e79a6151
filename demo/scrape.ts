/**
 * The last look at the workers' /metrics, taken after the last request and
 * before they stop: which metric families a worker exports, and whether its
 * hit counter equals, exactly, the hits the load generator saw through the
 * x-cache header. The Prometheus-text reading is the tests' own
 * (test/support/exposition-text.ts: string matching, no dependencies).
 */
import { metricNames, sampleSum } from '../test/support/exposition-text.ts';
import { httpRequest } from './http-client.ts';
import type { LoadThread } from './load-thread.ts';
import type { Slot } from './supervisor.ts';

export interface ScrapedMetrics {
  readonly scrapedWorkers: readonly number[];
  /** Metric families (`# TYPE` lines) of the first scraped worker's /metrics. */
  readonly names: readonly string[];
  /** Per scraped worker: coherent_cache_requests_total{result="hit"} against the hits the load generator saw. */
  readonly hits: readonly { readonly worker: number; readonly metric: number; readonly observed: number }[];
}

/** Scrapes each of `serving` in turn; a worker that does not answer is left out of `scrapedWorkers`. */
export async function scrapeMetrics(serving: readonly Slot[], loadgen: LoadThread): Promise<ScrapedMetrics> {
  const scraped: { worker: number; text: string }[] = [];
  for (const slot of serving) {
    try {
      const reply = await httpRequest({ port: slot.port as number, method: 'GET', path: '/metrics', timeoutMs: 2_000 });
      if (reply.status === 200) scraped.push({ worker: slot.id, text: reply.body });
    } catch {
      // Reported as a worker missing from scrapedWorkers.
    }
  }
  return {
    scrapedWorkers: scraped.map((s) => s.worker),
    names: scraped[0] === undefined ? [] : metricNames(scraped[0].text),
    hits: scraped.map((s) => ({
      worker: s.worker,
      metric: sampleSum(s.text, 'coherent_cache_requests_total', { result: 'hit' }),
      observed: loadgen.counts.get(s.worker)?.hits ?? 0,
    })),
  };
}
