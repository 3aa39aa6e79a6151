/**
 * The result model every scenario returns (one Section each), and its
 * rendering as text tables. Later scenarios (Redis propagation latency,
 * telemetry overhead) return Sections too: a primary metric per row, optional
 * extra columns, and an optional ratio to a reference row with a target.
 */

export type Verdict = 'PASS' | 'MISS';

export interface Row {
  readonly name: string;
  /** The primary metric, in the section's unit. */
  readonly value: number;
  /** Relative spread of the primary metric (0.02 = ±2 %), when it was sampled. */
  readonly spread?: number;
  /** value / the reference row's value. */
  readonly ratio?: number;
  /** Only on the rows the target is about. */
  readonly verdict?: Verdict;
  /** True when the verdict is within the measurement noise (it could flip on a rerun). */
  readonly marginal?: boolean;
  /** What the summary shows as measured (default: the ratio, or the value with its unit). */
  readonly measured?: string;
  /** Extra columns, by key of `Section.columns`. */
  readonly extra?: Readonly<Record<string, number | string>>;
}

export interface Column {
  readonly key: string;
  readonly label: string;
  /** Digits after the point for numbers (default 1). */
  readonly digits?: number;
}

export interface Section {
  /** The scenario id, as `--only` takes it. */
  readonly id: string;
  readonly title: string;
  /** Unit of `Row.value`, e.g. `ns/op`, `bytes/entry`, `ms`. */
  readonly unit: string;
  /** The row ratios are taken against. */
  readonly reference?: string;
  /** The target, in words, e.g. `coherent-cache ≤ 1.5× lru-cache get`. */
  readonly target?: string;
  readonly columns?: readonly Column[];
  readonly rows: readonly Row[];
  readonly notes: readonly string[];
  /** Scenario-specific raw data for the JSON file. */
  readonly details?: unknown;
}

/** Ratios of every row to the reference row's value. */
export function ratiosTo<R extends Row>(rows: readonly R[], reference: string): R[] {
  const ref = rows.find((row) => row.name === reference);
  if (ref === undefined) throw new Error(`no reference row ${reference}`);
  return rows.map((row) => ({ ...row, ratio: row.value / ref.value }));
}

/**
 * Judges `subject` against `ratio ≤ maxRatio`. The verdict is marginal when the
 * distance to the target is smaller than the combined spread of the two rows.
 */
export function judgeRatio(rows: readonly Row[], subject: string, reference: string, maxRatio: number): Row[] {
  const ref = rows.find((row) => row.name === reference);
  return rows.map((row) => {
    if (row.name !== subject || row.ratio === undefined) return row;
    const noise = Math.hypot(row.spread ?? 0, ref?.spread ?? 0);
    const distance = Math.abs(row.ratio / maxRatio - 1);
    return { ...row, verdict: row.ratio <= maxRatio ? 'PASS' : 'MISS', marginal: distance < noise };
  });
}

export function formatNumber(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pad(text: string, width: number, right: boolean): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** A plain text table: the first `leftColumns` columns left-aligned, the others right-aligned. */
export function table(header: readonly string[], body: readonly (readonly string[])[], leftColumns = 1): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((line) => (line[c] ?? '').length)));
  const render = (cells: readonly string[]): string =>
    cells.map((cell, c) => pad(cell, widths[c] ?? 0, c >= leftColumns)).join('  ').trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [render(header), rule, ...body.map(render)].join('\n');
}

export function renderSection(section: Section): string {
  const hasSpread = section.rows.some((row) => row.spread !== undefined);
  const hasRatio = section.rows.some((row) => row.ratio !== undefined);
  const hasVerdict = section.rows.some((row) => row.verdict !== undefined);
  const columns = section.columns ?? [];
  const header = [
    'library',
    section.unit,
    ...(hasSpread ? ['±MAD'] : []),
    ...(hasRatio ? [`× ${section.reference ?? 'ref'}`] : []),
    ...columns.map((column) => column.label),
    ...(hasVerdict ? ['target'] : []),
  ];
  const body = section.rows.map((row) => [
    row.name,
    formatNumber(row.value, row.value >= 1000 ? 0 : 1),
    ...(hasSpread ? [row.spread === undefined ? '' : `${formatNumber(row.spread * 100, 1)}%`] : []),
    ...(hasRatio ? [row.ratio === undefined ? '' : `${formatNumber(row.ratio, 2)}×`] : []),
    ...columns.map((column) => {
      const cell = row.extra?.[column.key];
      if (cell === undefined) return '';
      return typeof cell === 'number' ? formatNumber(cell, column.digits ?? 1) : cell;
    }),
    ...(hasVerdict ? [row.verdict === undefined ? '' : `${row.verdict}${row.marginal === true ? ' (within noise)' : ''}`] : []),
  ]);
  const lines = [`## ${section.title}`];
  if (section.target !== undefined) lines.push(`target: ${section.target}`);
  lines.push('', table(header, body));
  for (const note of section.notes) lines.push(`  · ${note}`);
  return lines.join('\n');
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly totalMemoryGiB: number;
}

export function renderMachine(machine: Machine): string {
  return `machine: ${machine.cpu} × ${machine.cores} cores, ${formatNumber(machine.totalMemoryGiB, 1)} GiB, ${machine.platform}; node ${machine.node} (V8 ${machine.v8})`;
}

/** One line per judged row, for the end of the run. */
export function renderSummary(sections: readonly Section[]): string {
  const body: string[][] = [];
  for (const section of sections) {
    for (const row of section.rows) {
      if (row.verdict === undefined) continue;
      const measured =
        row.measured ?? (row.ratio === undefined ? `${formatNumber(row.value, 1)} ${section.unit}` : `${formatNumber(row.ratio, 2)}×`);
      body.push([section.id, section.target ?? '', measured, `${row.verdict}${row.marginal === true ? ' (within noise)' : ''}`]);
    }
  }
  return ['## Targets', '', table(['scenario', 'target', 'measured', 'verdict'], body, 2)].join('\n');
}
