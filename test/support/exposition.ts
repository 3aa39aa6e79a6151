/**
 * Prometheus exposition text read the way Prometheus reads it: checked by
 * `promtool check metrics` (the Prometheus project's own parser and linter),
 * parsed with prom2javascript, and looked up by name and labels. The
 * string-level readers (metric names, sample names, sums) live in
 * exposition-text.ts, which the demo shares; they are re-exported here.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromLabels, type PromMetrics } from 'prom2javascript';

export { metricNames, sampleNames, sampleSum } from './exposition-text.ts';

/** The exposition text, parsed (no check: see parseExposition). */
export function parseUnchecked(text: string): Promise<PromMetrics> {
  return getMetricsFromIterator(text.split('\n')[Symbol.iterator]());
}

/** The exposition text, validated by promtool and parsed. */
export function parseExposition(text: string): Promise<PromMetrics> {
  // Synchronous: a test may scrape with every timer faked, nextTick included, under which an async child never reports its exit.
  const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect(checked.error, 'promtool must be installed').to.equal(undefined);
  expect({ status: checked.status, output: checked.stdout + checked.stderr }).to.deep.equal({ status: 0, output: '' });
  return parseUnchecked(text);
}

/** GET `url` (an unset one fails the fetch), expecting 200; resolves with the body. */
export async function scrapeText(url: string | undefined): Promise<string> {
  const response = await fetch(url ?? 'http://127.0.0.1:1/unset');
  expect(response.status).to.equal(200);
  return response.text();
}

/** Every label value of every sample. */
export function allLabelValues(metrics: PromMetrics): string[] {
  return Object.values(metrics).flatMap((metric) => metric.data.flatMap((point) => Object.values(point.labels)));
}

function sameLabels(a: PromLabels, b: PromLabels): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function includesLabels(labels: PromLabels, wanted: PromLabels): boolean {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v);
}

/** The samples of counter or gauge `name`, which must be exposed. */
function samples(metrics: PromMetrics, name: string): PromData[] {
  const metric = metrics[name];
  expect(metric, name).not.to.equal(undefined);
  expect(metric?.type, name).to.be.oneOf(['counter', 'gauge']);
  return (metric?.data ?? []) as PromData[];
}

/** The value of the one sample of counter or gauge `name` whose labels are exactly `labels` (undefined when none). */
export function valueOf(metrics: PromMetrics, name: string, labels: PromLabels): number | undefined {
  const matching = samples(metrics, name).filter((s) => sameLabels(s.labels, labels));
  expect(matching.length, `${name}${JSON.stringify(labels)} series`).to.be.at.most(1);
  return matching[0]?.value;
}

/** The value of the first sample of `name` whose labels include `labels`, whatever else they hold (undefined when none, or no such metric). */
export function valueIncluding(metrics: PromMetrics, name: string, labels: PromLabels): number | undefined {
  const points = (metrics[name]?.data ?? []) as PromData[];
  return points.find((p) => includesLabels(p.labels, labels))?.value;
}

function histograms(metrics: PromMetrics, name: string): PromHistogramData[] {
  expect(metrics[name]?.type, name).to.equal('histogram');
  return metrics[name]?.data as PromHistogramData[];
}

/** The histogram `name` (which must be one) whose labels are exactly `labels` (`le` aside). */
export function histogramOf(metrics: PromMetrics, name: string, labels: PromLabels): PromHistogramData | undefined {
  return histograms(metrics, name).find((h) => sameLabels(h.labels, labels));
}

/** The first histogram `name` (which must be one) whose labels include `labels`. */
export function histogramIncluding(metrics: PromMetrics, name: string, labels: PromLabels): PromHistogramData | undefined {
  return histograms(metrics, name).find((h) => includesLabels(h.labels, labels));
}
