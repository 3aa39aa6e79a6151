/**
 * End to end with the real `prometheus` binary: it scrapes a process that
 * drives a cache (hits, misses, loads, errors, remote invalidations over a real
 * redis-server), and then every dashboard panel's query, run through
 * Prometheus's HTTP API, returns data.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { spawnChild, startProcess, type ChildWorker, type StartedProcess } from './support/child.ts';
import { freePort } from './support/ports.ts';
import { substituteGrafanaVariables } from './support/promql.ts';
import { startRedis, waitUntil, type RedisServer } from './support/redis-server.ts';

interface QueryResponse {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('SRE kit: dashboards against a real Prometheus', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let service: ChildWorker<{ op: 'ready' }, boolean>;
  let prometheus: StartedProcess | undefined;
  let dir: string;
  let api: string;

  before(async () => {
    redis = await startRedis();
    const metricsPort = await freePort();
    service = await spawnChild<{ op: 'ready' }, boolean>(new URL('./fixtures/metrics-service.ts', import.meta.url), [redis.url, String(metricsPort)]);
    await service.request({ op: 'ready' });
    dir = mkdtempSync(join(tmpdir(), 'coherent-cache-prometheus-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: service\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`,
    );
    const webPort = await freePort();
    api = `http://127.0.0.1:${webPort}`;
    const started = startProcess('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${webPort}`,
      '--log.level=warn',
    ]);
    prometheus = started;
    // A missing binary (or an early exit) ends the wait with its reason instead of a timeout.
    const failedToStart = started.exited.then((exit): never => {
      if (exit.error !== undefined) throw new Error(`cannot start prometheus (${exit.error.message}); bash .ci/run installs it`);
      throw new Error(`prometheus exited (code ${String(exit.code)}, signal ${String(exit.signal)})\n${started.output()}`);
    });
    failedToStart.catch(() => undefined);
    await Promise.race([failedToStart, waitUntil('prometheus ready', 20_000, async () => (await fetch(`${api}/-/ready`).catch(() => undefined))?.ok === true, 100)]);
    // Enough scrapes for every rate() window below to hold several samples.
    await waitUntil('five scrapes with data', 30_000, async () => (await query('count_over_time(coherent_cache_requests_total{result="hit"}[1m])')).some((r) => Number(r.value[1]) >= 5), 250);
  });

  after(async () => {
    prometheus?.process.kill('SIGKILL');
    service?.kill();
    await service?.exited;
    await redis?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function query(expr: string): Promise<QueryResponse['data']['result']> {
    const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as QueryResponse;
    if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${JSON.stringify(body)}`);
    return body.data.result;
  }

  it('every panel query returns data', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../dashboards/coherent-cache.json', import.meta.url), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const empty: string[] = [];
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const result = await query(substituteGrafanaVariables(target.expr, '15s', 'config'));
        if (result.length === 0) empty.push(`${panel.title}: ${target.expr}`);
      }
    }
    expect(empty).to.deep.equal([]);
  });

  it('the values tell the story that was driven', async () => {
    const hitRatio = await query('sum(rate(coherent_cache_requests_total{result="hit"}[15s])) / sum(rate(coherent_cache_requests_total[15s]))');
    expect(Number(hitRatio[0]?.value[1])).to.be.within(0.05, 0.95);
    const remote = await query('sum(rate(coherent_cache_invalidated_total{origin="remote",scope="key"}[15s]))');
    expect(Number(remote[0]?.value[1])).to.be.greaterThan(0);
    const errors = await query('sum(rate(coherent_cache_loads_total{outcome="error"}[15s]))');
    expect(Number(errors[0]?.value[1])).to.be.greaterThan(0);
    const lagP99 = await query('histogram_quantile(0.99, sum by (le) (rate(coherent_cache_propagation_lag_bucket[15s])))');
    expect(Number(lagP99[0]?.value[1])).to.be.within(0, 0.25);
    const rejected = await query('sum(coherent_cache_message_rejected_total{reason="not-json"})');
    expect(Number(rejected[0]?.value[1])).to.be.greaterThan(0);
  });
});
