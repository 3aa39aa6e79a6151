/**
 * Prometheus exposition text read with string matching alone: no imports at
 * all, so the demo (demo/scrape.ts) uses it as well as the tests. For a read
 * that Prometheus's own checker vouches for, see exposition.ts.
 */

/** A metric or sample name at the start of a line. */
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_NAME = new RegExp(`^${NAME}`);
/** A sample line: name, optional `{labels}`, value. */
const SAMPLES = new RegExp(`^(${NAME})(\\{[^}]*\\})?\\s+(\\S+)`, 'gm');

/** Metric family names declared by `# TYPE` lines, sorted. */
export function metricNames(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) \S+$/gm)) names.add(match[1] as string);
  return [...names].sort();
}

/** The name of every sample line (`_bucket`, `_sum`, `_count` included), in order; throws on a line that is neither a comment nor a sample. */
export function sampleNames(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const name = SAMPLE_NAME.exec(line)?.[0];
      if (name === undefined) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
      return name;
    });
}

/** Sum of the samples of `name` whose labels include every `labels` pair. */
export function sampleSum(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const match of text.matchAll(SAMPLES)) {
    if (match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([label, value]) => set.includes(`${label}="${value}"`))) sum += Number(match[3]);
  }
  return sum;
}
