/**
 * The propagation-lag panel shows 0, not "no data", on an instance that has
 * not received a message yet, and the real quantiles once it has. Its shipped
 * queries are evaluated by Prometheus's own engine (`promtool test rules`,
 * promql_expr_test) against the series each exporter produces:
 * - the OpenTelemetry exporter has no histogram series before the first sample;
 * - prom-client's bridge starts every histogram at zero, where
 *   histogram_quantile gives NaN (as it does for any window without a message).
 */
import { expect } from 'chai';
import { PROPAGATION_LAG } from '../../src/telemetry/catalogue.ts';
import { dashboardPanelTargets, expectPromtoolTestsPass, substituteGrafanaVariables } from '../support/promql.ts';

const targets = dashboardPanelTargets('Propagation lag');

const MINUTES = 20;
/** Cumulative bucket series of one cache: `perMinute` samples a minute, all in the bucket (0.0005, 0.001]. */
function buckets(cache: string, perMinute: number): { series: string; values: string }[] {
  return [...PROPAGATION_LAG.buckets.map(String), '+Inf'].map((le) => ({
    series: `coherent_cache_propagation_lag_bucket{cache="${cache}",le="${le}"}`,
    values: `0+${le === '0.0005' ? 0 : perMinute}x${MINUTES}`,
  }));
}
/** Every exporter gives each cache this gauge from its creation on. */
const degraded = (cache: string) => ({ series: `coherent_cache_link_degraded{cache="${cache}"}`, values: `0x${MINUTES}` });

describe('dashboards: the propagation-lag panel', () => {
  it('has the p50 and p99 queries', () => {
    expect(targets.map((t) => t.legendFormat)).to.deep.equal(['{{cache}} p50', '{{cache}} p99']);
  });

  it('shows 0 per cache before the first message (OpenTelemetry: no series yet; prom-client: zeroed buckets), and the quantile after', async () => {
    const [p50, p99] = targets.map((t) => substituteGrafanaVariables(t.expr, '5m', '.*'));
    const input_series = [
      degraded('fresh-otel'), // no histogram series at all
      degraded('fresh-prom'),
      ...buckets('fresh-prom', 0), // series, every count 0
      degraded('busy'),
      ...buckets('busy', 60),
    ];
    await expectPromtoolTestsPass({
      name: 'propagation lag panel',
      input_series,
      promql_expr_test: [
        {
          expr: p50,
          eval_time: '10m',
          exp_samples: [
            { labels: '{cache="fresh-otel"}', value: 0 },
            { labels: '{cache="fresh-prom"}', value: 0 },
            { labels: '{cache="busy"}', value: 0.00075 },
          ],
        },
        {
          expr: p99,
          eval_time: '10m',
          exp_samples: [
            { labels: '{cache="fresh-otel"}', value: 0 },
            { labels: '{cache="fresh-prom"}', value: 0 },
            { labels: '{cache="busy"}', value: 0.000995 },
          ],
        },
      ],
    });
  });
});
