/** Number formatting, percentiles, the summary table and Prometheus-text parsing for the demo's output. */

/** Nearest-rank percentile (p in 0..100) of `values`; undefined when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export interface LagSummary {
  readonly samples: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export function lagSummary(samples: readonly number[]): LagSummary {
  return {
    samples: samples.length,
    p50: percentile(samples, 50) ?? null,
    p99: percentile(samples, 99) ?? null,
    max: samples.length === 0 ? null : Math.max(...samples),
  };
}

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const pct = (ratio: number | null): string => (ratio === null ? '-' : `${(ratio * 100).toFixed(1)}%`);
export const ms = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`);

/** A plain text table: first row is the header, numbers right-aligned. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const numeric = (cell: string): boolean => /^[-\d.,]+( ms|%)?$/.test(cell);
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => (numeric(cell) && cell !== '-' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const [header, ...body] = rows;
  if (header === undefined) return '';
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}

/** Metric family names declared by `# TYPE` lines in Prometheus text. */
export function metricNames(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) \S+$/gm)) names.add(match[1] as string);
  return [...names].sort();
}

/** Sum of the samples of `name` whose labels include every `labels` pair. */
export function sampleSum(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const match of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/gm)) {
    if (match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([label, value]) => set.includes(`${label}="${value}"`))) sum += Number(match[3]);
  }
  return sum;
}
