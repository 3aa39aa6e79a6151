/**
 * Builds the shipped Grafana dashboard (dashboards/coherent-cache.json) from
 * panels.ts with Grafana's own typed builders (@grafana/grafana-foundation-sdk),
 * so the JSON is always a valid Grafana 11 dashboard model.
 *
 *   npm run dashboards           regenerate the JSON
 *   npm run dashboards -- --check  fail if the shipped JSON is out of date (used by the tests)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DashboardBuilder, DatasourceVariableBuilder, QueryVariableBuilder, RowBuilder, VariableRefresh, VariableSort, type DataSourceRef } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { ROWS, type PanelSpec } from './panels.ts';

export const DASHBOARD_PATH = fileURLToPath(new URL('./coherent-cache.json', import.meta.url));
const DATASOURCE: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

function panel(spec: PanelSpec, width: number) {
  const builder = spec.kind === 'stat' ? new StatPanelBuilder() : new TimeseriesPanelBuilder();
  builder.title(spec.title).description(spec.description).unit(spec.unit).datasource(DATASOURCE).height(8).span(width);
  spec.queries.forEach((query, i) => {
    builder.withTarget(
      new DataqueryBuilder()
        .expr(query.expr)
        .legendFormat(query.legend)
        .refId(String.fromCharCode(65 + i))
        .datasource(DATASOURCE),
    );
  });
  return builder;
}

export function buildDashboard(): unknown {
  const dashboard = new DashboardBuilder('coherent-cache')
    .uid('coherent-cache')
    .description('Hit ratio, loads, entries and cross-process coherence of coherent-cache instances.')
    .tags(['coherent-cache', 'cache'])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(
      new QueryVariableBuilder('cache')
        .label('Cache')
        .datasource(DATASOURCE)
        .query('label_values(coherent_cache_requests_total, cache)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    );
  for (const row of ROWS) {
    dashboard.withRow(new RowBuilder(row.title));
    const width = Math.max(6, Math.floor(24 / row.panels.length));
    for (const spec of row.panels) dashboard.withPanel(panel(spec, width));
  }
  return dashboard.build();
}

export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rendered = renderDashboard();
  if (process.argv.includes('--check')) {
    if (readFileSync(DASHBOARD_PATH, 'utf8') !== rendered) {
      console.error(`${DASHBOARD_PATH} is out of date: run npm run dashboards`);
      process.exit(1);
    }
  } else {
    writeFileSync(DASHBOARD_PATH, rendered);
    console.log(`wrote ${DASHBOARD_PATH}`);
  }
}
