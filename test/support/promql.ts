/**
 * PromQL through the Prometheus project's own parser (@prometheus-io/lezer-promql), the
 * shipped dashboard's panel queries, and `promtool test rules` on them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { runProcess } from './child.ts';

/** Grafana's built-in variables, as Grafana would substitute them before Prometheus sees the query. */
export function substituteGrafanaVariables(expr: string, rateInterval = '5m', cache = '.*'): string {
  return expr.replaceAll('$__rate_interval', rateInterval).replaceAll('$cache', cache);
}

export interface ParsedQuery {
  /** Offsets of syntax errors (empty when the query parses). */
  readonly errors: number[];
  /** Metric names of every vector selector. */
  readonly metrics: string[];
}

export function parsePromql(expr: string): ParsedQuery {
  const errors: number[] = [];
  const metrics: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(expr.slice(node.from, node.to));
    },
  });
  return { errors, metrics };
}

/** One panel of the shipped Grafana dashboard, as its JSON has it. */
export interface DashboardPanel {
  readonly title: string;
  readonly targets?: readonly { readonly expr: string; readonly legendFormat: string }[];
}

/** The queries of the shipped dashboard's panel titled `title` (none when there is no such panel). */
export function dashboardPanelTargets(title: string): NonNullable<DashboardPanel['targets']> {
  const dashboard = JSON.parse(readFileSync(new URL('../../dashboards/coherent-cache.json', import.meta.url), 'utf8')) as { panels: DashboardPanel[] };
  return dashboard.panels.find((panel) => panel.title === title)?.targets ?? [];
}

/** One test group of a `promtool test rules` unit-test file, with PromQL expression tests only. */
export interface PromtoolTestGroup {
  readonly name: string;
  /** Between the samples of `input_series`. Default '1m'. */
  readonly interval?: string;
  readonly input_series: readonly { readonly series: string; readonly values: string }[];
  readonly promql_expr_test: readonly {
    /** A query taken from the dashboard; undefined (the panel lacks it) fails the test. */
    readonly expr: string | undefined;
    readonly eval_time: string;
    readonly exp_samples: readonly { readonly labels: string; readonly value: number }[];
  }[];
}

/**
 * Writes the groups as a `promtool test rules` unit-test file (evaluation_interval 1m) to a
 * temp dir, runs promtool on it and asserts it exits 0, with promtool's output as the message.
 */
export async function expectPromtoolTestsPass(...groups: PromtoolTestGroup[]): Promise<void> {
  for (const group of groups) for (const test of group.promql_expr_test) expect(test.expr, `${group.name}: a query of the panel`).to.be.a('string');
  const dir = mkdtempSync(join(tmpdir(), 'coherent-cache-panel-'));
  try {
    const file = join(dir, 'panel.test.yaml');
    writeFileSync(file, stringify({ evaluation_interval: '1m', tests: groups.map((group) => ({ interval: '1m', ...group })) }));
    const result = await runProcess('promtool', ['test', 'rules', file]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
