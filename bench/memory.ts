/**
 * Memory per entry: each library fills 1 000 000 small entries in its own
 * child process (fresh heap), measured as the V8 heap plus ArrayBuffer backing
 * stores added between two full GCs. Typed arrays (which lru-cache and
 * coherent-cache both use) live outside `heapUsed`, so they are counted
 * separately and added in.
 */
import { spawnChild } from '../test/support/child.ts';
import type { ScenarioContext } from './harness.ts';
import { PEER_OPTIONS } from './peers.ts';
import { judgeRatio, ratiosTo, type Row, type Section } from './report.ts';

export interface MemoryReport {
  readonly library: string;
  readonly count: number;
  /** Bytes added to the V8 heap. */
  readonly heapBytes: number;
  /** Bytes added in ArrayBuffer backing stores (typed arrays), outside the V8 heap. */
  readonly arrayBufferBytes: number;
  /** Entries the cache reports holding after the fill (all of them, or the measurement is void). */
  readonly held: number;
  /** Time to insert every entry, ns per entry. */
  readonly fillNsPerEntry: number;
}

export const LIBRARIES = ['Map', 'lru-cache', 'coherent-cache', 'bentocache', 'cache-manager'] as const;
export type Library = (typeof LIBRARIES)[number];

export const id = 'memory';
const REFERENCE = 'lru-cache';
const SUBJECT = 'coherent-cache';
const MAX_RATIO = 1.2;
const CHILD = new URL('./memory-child.ts', import.meta.url);
/** A fill of a million entries through an async API takes a while. */
const MEASURE_TIMEOUT_MS = 10 * 60_000;

export type MeasureRequest = { op: 'measure' };

async function measureIn(library: Library, count: number): Promise<MemoryReport> {
  const child = await spawnChild<MeasureRequest, MemoryReport>(CHILD, [library, String(count)], PEER_OPTIONS);
  try {
    return await child.request({ op: 'measure' }, { timeoutMs: MEASURE_TIMEOUT_MS });
  } finally {
    await child.stop();
  }
}

export async function run(context: ScenarioContext): Promise<Section> {
  const count = context.quick ? 100_000 : 1_000_000;
  const reports: MemoryReport[] = [];
  for (const library of LIBRARIES) {
    context.log(`${id}: ${library}, ${count.toLocaleString('en-US')} entries in a child process`);
    reports.push(await measureIn(library, count));
  }
  for (const report of reports) {
    if (report.held !== count) throw new Error(`${id}: ${report.library} holds ${report.held} of ${count} entries`);
  }
  const rows: Row[] = reports.map((report) => ({
    name: report.library,
    value: (report.heapBytes + report.arrayBufferBytes) / count,
    extra: {
      heap: report.heapBytes / count,
      arrayBuffers: report.arrayBufferBytes / count,
      fill: report.fillNsPerEntry,
    },
  }));
  return {
    id,
    title: `Memory per entry: ${count.toLocaleString('en-US')} entries (key k\${i}, value i), one process per library`,
    unit: 'bytes/entry',
    reference: REFERENCE,
    target: `${SUBJECT} ≤ ${MAX_RATIO}× ${REFERENCE}`,
    columns: [
      { key: 'heap', label: 'V8 heap B', digits: 1 },
      { key: 'arrayBuffers', label: 'typed arrays B', digits: 1 },
      { key: 'fill', label: 'fill ns/entry', digits: 0 },
    ],
    rows: judgeRatio(ratiosTo(rows, REFERENCE), SUBJECT, REFERENCE, MAX_RATIO),
    notes: [
      'key strings are allocated before the baseline and excluded (every library holds the same ones, ~24 B each)',
      `capacity exactly ${count.toLocaleString('en-US')} (lru-cache max, coherent-cache maxEntries, bentocache maxItems); cache-manager's keyv Map store is unbounded; ttl 60 s everywhere`,
      'bentocache serializes values (its memory driver default), cache-manager wraps each in { value, expires }',
      ...(context.quick ? ['--quick: 100k entries, so fixed costs weigh more per entry than at 1M'] : []),
    ],
    details: { reports },
  };
}
