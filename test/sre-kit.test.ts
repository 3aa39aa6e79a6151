/**
 * What ships for SREs, checked with real tools: the dashboard JSON is the one
 * the typed generator builds; every panel and alert query parses with the
 * Prometheus project's PromQL parser and uses only metrics the library
 * exports; promtool checks the config and rules and runs the rule unit tests;
 * the collector config is consistent with itself and with the library.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { renderDashboard } from '../dashboards/generate.ts';
import { METRICS } from '../src/index.ts';
import { runChecked as run } from './support/child.ts';
import { parsePromql, substituteGrafanaVariables } from './support/promql.ts';
const root = fileURLToPath(new URL('../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** Every series name the library exports, as Prometheus sees it. */
const EXPORTED = new Set(METRICS.flatMap((m) => (m.kind === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.prometheusName + s) : [m.prometheusName])));

interface DashboardJson {
  templating: { list: { name: string; type: string }[] };
  panels: { type: string; title: string; targets?: { expr: string; datasource: { uid: string } }[] }[];
}

function dashboardQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(read('dashboards/coherent-cache.json')) as DashboardJson;
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
}

interface RuleFile {
  groups: { rules: { alert: string; expr: string }[] }[];
}

function alertRules(): { alert: string; expr: string }[] {
  return (parseYaml(read('dashboards/alerts.yaml')) as RuleFile).groups.flatMap((group) => group.rules);
}

describe('SRE kit: dashboards', () => {
  it('the shipped JSON is what dashboards/generate.ts builds (npm run dashboards)', () => {
    expect(read('dashboards/coherent-cache.json')).to.equal(renderDashboard());
  });

  it('has the datasource and cache variables, and every query uses the datasource variable', () => {
    const dashboard = JSON.parse(read('dashboards/coherent-cache.json')) as DashboardJson;
    expect(dashboard.templating.list.map((v) => `${v.name}:${v.type}`)).to.deep.equal(['datasource:datasource', 'cache:query']);
    const targets = dashboard.panels.flatMap((panel) => panel.targets ?? []);
    expect(targets.length).to.be.greaterThan(15);
    for (const target of targets) expect(target.datasource.uid).to.equal('${datasource}');
  });

  it('has the panels an SRE needs', () => {
    const titles = new Set(dashboardQueries().map((q) => q.panel));
    for (const needed of [
      'Hit ratio',
      'Hit ratio trend',
      'Requests by result',
      'Loads by outcome',
      'Load latency',
      'Load errors',
      'Entries',
      'Evictions and expirations',
      'Invalidations: local vs remote',
      'Propagation lag',
      'Publish failures and retry queue',
      'Rejected messages',
      'Degraded instances and failed repairs',
      'Resyncs by mode',
      'Coherence violations',
      'Acknowledged invalidations',
    ]) {
      expect(titles.has(needed), needed).to.equal(true);
    }
  });

  it('every panel query parses and uses only exported metrics', () => {
    for (const { panel, expr } of dashboardQueries()) {
      const parsed = parsePromql(substituteGrafanaVariables(expr));
      expect(parsed.errors, `${panel}: ${expr}`).to.deep.equal([]);
      expect(parsed.metrics.length, `${panel}: no metric in ${expr}`).to.be.greaterThan(0);
      for (const metric of parsed.metrics) expect(EXPORTED.has(metric), `${panel} uses ${metric}, which the library does not export`).to.equal(true);
    }
  });

  it('the parser check can fail: a broken query and an unknown metric are caught', () => {
    expect(parsePromql('sum(rate(coherent_cache_requests_total[5m])').errors).not.to.deep.equal([]);
    expect(EXPORTED.has(parsePromql('rate(coherent_cache_request_total[5m])').metrics[0] ?? '')).to.equal(false);
  });
});

describe('SRE kit: alert rules', () => {
  it('covers the nine alerts and every expression parses and uses exported metrics', () => {
    const rules = alertRules();
    expect(rules.map((r) => r.alert)).to.have.members([
      'CoherentCacheHitRatioCollapse',
      'CoherentCacheLoadErrors',
      'CoherentCacheInstanceDegraded',
      'CoherentCachePublishFailures',
      'CoherentCachePropagationLagHigh',
      'CoherentCacheRejectedMessages',
      'CoherentCacheFullResyncDropped',
      'CoherentCacheRepairFailing',
      'CoherentCacheCoherenceViolation',
    ]);
    for (const rule of rules) {
      const parsed = parsePromql(rule.expr);
      expect(parsed.errors, rule.alert).to.deep.equal([]);
      for (const metric of parsed.metrics) expect(EXPORTED.has(metric), `${rule.alert} uses ${metric}`).to.equal(true);
    }
  });

  it('promtool check rules and promtool test rules pass', async () => {
    const checked = await run('promtool', ['check', 'rules', 'dashboards/alerts.yaml'], { cwd: root });
    expect(checked.stdout).to.match(/SUCCESS: 9 rules found/);
    const tested = await run('promtool', ['test', 'rules', 'dashboards/alerts.test.yaml'], { cwd: root });
    expect(tested.stdout).to.match(/SUCCESS/);
  });

  it('promtool check config passes on the compose stack prometheus.yml with its rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coherent-cache-prom-'));
    try {
      cpSync(join(root, 'deploy/prometheus.yml'), join(dir, 'prometheus.yml'));
      cpSync(join(root, 'dashboards/alerts.yaml'), join(dir, 'alerts.yaml'));
      const { stdout } = await run('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
      expect(stdout).to.match(/SUCCESS: 9 rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface CollectorConfig {
  receivers: Record<string, { protocols?: Record<string, { endpoint: string }> }>;
  processors: Record<string, unknown>;
  exporters: Record<string, { endpoint?: string }>;
  extensions?: Record<string, unknown>;
  service: { extensions?: string[]; pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
}

describe('SRE kit: otel-collector.yaml', () => {
  const config = parseYaml(read('otel-collector.yaml')) as CollectorConfig;

  it('every pipeline references only components it defines', () => {
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      for (const receiver of pipeline.receivers) expect(config.receivers, `${name} receiver`).to.have.property(receiver);
      for (const processor of pipeline.processors ?? []) expect(config.processors, `${name} processor`).to.have.property(processor);
      for (const exporter of pipeline.exporters) expect(config.exporters, `${name} exporter`).to.have.property(exporter);
    }
    for (const extension of config.service.extensions ?? []) expect(config.extensions).to.have.property(extension);
    expect(Object.keys(config.service.pipelines)).to.have.members(['metrics', 'traces']);
  });

  it("receives OTLP where the library's setup helper sends it, and Prometheus scrapes its exporter", () => {
    expect(config.receivers['otlp']?.protocols?.['http']?.endpoint).to.match(/:4318$/);
    expect(config.receivers['otlp']?.protocols?.['grpc']?.endpoint).to.match(/:4317$/);
    const prometheusPort = config.exporters['prometheus']?.endpoint?.split(':').at(-1);
    expect(read('deploy/prometheus.yml')).to.include(`otel-collector:${prometheusPort}`);
    // Not the library's own exporter port: an instance and a collector can share a host.
    expect(prometheusPort).not.to.equal('9464');
  });

  it('keeps the metric names the dashboards use (no unit suffixes added by the collector)', () => {
    expect(config.service.pipelines['metrics']?.processors).to.include('transform/coherent_cache_names');
    expect(JSON.stringify(config.processors['transform/coherent_cache_names'])).to.include('set(unit, \\"\\")');
  });
});
