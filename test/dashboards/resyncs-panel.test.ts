/**
 * The resyncs panel tells which repair ran and what it cost: resyncs and the
 * entries they dropped, per cache and mode. Its shipped queries are evaluated
 * by Prometheus's own engine (`promtool test rules`, promql_expr_test) against
 * the series the exporters produce: both modes from the cache's creation on,
 * zeros included.
 */
import { expect } from 'chai';
import { dashboardPanelTargets, expectPromtoolTestsPass, substituteGrafanaVariables } from '../support/promql.ts';

const targets = dashboardPanelTargets('Resyncs by mode');

const series = (metric: string, cache: string, mode: string, values: string) => ({ series: `${metric}{cache="${cache}",instance="a:9464",mode="${mode}"}`, values });

describe('dashboards: the resyncs panel', () => {
  it('has the resyncs and entries-dropped queries, by mode', () => {
    expect(targets.map((t) => t.legendFormat)).to.deep.equal(['{{cache}} {{mode}} resyncs', '{{cache}} {{mode}} entries dropped']);
  });

  it('shows exact and full resyncs apart, with what each dropped', async () => {
    const [resyncs, dropped] = targets.map((t) => substituteGrafanaVariables(t.expr, '5m', '.*'));
    const input_series = [
      // orders: started with a log (its full resync dropped nothing), then two gaps repaired exactly: 5 keys dropped.
      series('coherent_cache_resynced_total', 'orders', 'full', '0 1x20'),
      series('coherent_cache_resynced_dropped_total', 'orders', 'full', '0x20'),
      series('coherent_cache_resynced_total', 'orders', 'exact', '0x6 1 2x13'),
      series('coherent_cache_resynced_dropped_total', 'orders', 'exact', '0x6 3 5x13'),
      // config: up for a while, then a gap the log no longer covered: one full resync that dropped 800 entries.
      series('coherent_cache_resynced_total', 'config', 'full', '1x6 2x13'),
      series('coherent_cache_resynced_dropped_total', 'config', 'full', '0x6 800x13'),
      series('coherent_cache_resynced_total', 'config', 'exact', '0x20'),
      series('coherent_cache_resynced_dropped_total', 'config', 'exact', '0x20'),
    ];
    await expectPromtoolTestsPass({
      name: 'resyncs panel',
      input_series,
      promql_expr_test: [
        {
          expr: resyncs,
          eval_time: '10m',
          exp_samples: [
            { labels: '{cache="orders",mode="full"}', value: 0 },
            { labels: '{cache="orders",mode="exact"}', value: 2 },
            { labels: '{cache="config",mode="full"}', value: 1 },
            { labels: '{cache="config",mode="exact"}', value: 0 },
          ],
        },
        {
          expr: dropped,
          eval_time: '10m',
          exp_samples: [
            { labels: '{cache="orders",mode="full"}', value: 0 },
            { labels: '{cache="orders",mode="exact"}', value: 5 },
            { labels: '{cache="config",mode="full"}', value: 800 },
            { labels: '{cache="config",mode="exact"}', value: 0 },
          ],
        },
      ],
    });
  });
});
