/**
 * The arithmetic and formatting that the live progress line and the final
 * summary share: totals, hit ratio, percentiles, number formats, the text table.
 */
import type { TargetCounts } from './loadgen.ts';

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

export function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += pick(item);
  return total;
}

/** Hits over answered reads (hits, misses, joined); null before any answer. */
export function hitRatio(counts: Pick<TargetCounts, 'hits' | 'misses' | 'joined'>): number | null {
  const answered = counts.hits + counts.misses + counts.joined;
  return answered === 0 ? null : counts.hits / answered;
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
