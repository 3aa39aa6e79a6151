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

/**
 * Writes a `promtool test rules` unit-test file (the object is written as YAML) to a temp
 * dir, runs promtool on it and asserts it exits 0, with promtool's output as the message.
 */
export async function expectPromtoolTestsPass(tests: object): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'coherent-cache-panel-'));
  try {
    const file = join(dir, 'panel.test.yaml');
    writeFileSync(file, stringify(tests));
    const result = await runProcess('promtool', ['test', 'rules', file]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
