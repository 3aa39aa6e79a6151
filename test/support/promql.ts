/** PromQL through the Prometheus project's own parser (@prometheus-io/lezer-promql). */
import { parser } from '@prometheus-io/lezer-promql';

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
