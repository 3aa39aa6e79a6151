/**
 * `npm run chaos`: the demo under each fault type in turn, one demo run (own
 * processes, own redis-server where the fault needs one) per fault, and one
 * table row per fault: faults injected, reads, stale reads, reads over the
 * bound (the caches' degradedTtl, from each write's acknowledgement), worst
 * staleness. Exit code 1 when a row misses the target (a read over the bound,
 * a fault not injected, no read judged), 2 on a usage error.
 *
 *   node --import tsx demo/chaos-matrix.ts [--only f1,f2] [--times n] [--degraded-ttl ms] [--workers n] [--rate r] [--json]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FAULTS, type Fault } from './args.ts';
import { renderTable, rowNotes, rowProblem, type ChaosRow } from './chaos-table.ts';
import type { DemoSummary } from './summary.ts';

/** How many times each fault is injected in a full run. */
const TIMES: Record<Fault, number> = {
  'redis-sigkill': 10,
  'redis-sigstop': 10,
  'client-pause': 6,
  'client-kill-normal': 10,
  'client-kill-pubsub': 10,
  worker: 5,
  'primary-stall': 5,
};
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

const USAGE = `usage: npm run chaos -- [--only ${FAULTS.join(',')}] [--times n] [--degraded-ttl ms] [--workers n] [--rate reads/s] [--json]`;

const OPTIONS = {
  only: { type: 'string' },
  times: { type: 'string' },
  'degraded-ttl': { type: 'string', default: '300' },
  workers: { type: 'string', default: '3' },
  rate: { type: 'string', default: '2000' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
try {
  ({ values } = parseArgs({ options: OPTIONS }));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const only = values.only?.split(',') ?? [...FAULTS];
const unknown = only.filter((name) => !(FAULTS as readonly string[]).includes(name));
if (unknown.length > 0) {
  process.stderr.write(`unknown fault(s): ${unknown.join(', ')}\n${USAGE}\n`);
  process.exit(2);
}
const ttl = values['degraded-ttl'];
const times = values.times === undefined ? undefined : Number(values.times);
if (times !== undefined && !(Number.isInteger(times) && times >= 1)) {
  process.stderr.write(`--times must be a positive integer, got ${JSON.stringify(values.times)}\n${USAGE}\n`);
  process.exit(2);
}
const say = (line: string): void => void (values.json === true ? process.stderr : process.stdout).write(`${line}\n`);

const started = performance.now();
const rows: ChaosRow[] = [];
say(`chaos: ${only.length} fault type(s), degradedTtl ${ttl} ms, bound = degradedTtl from each write's acknowledgement, ${values.workers} workers, ${values.rate} reads/s`);
for (const fault of only as Fault[]) {
  const planned = times ?? TIMES[fault];
  say(`  ${fault} ×${planned}…`);
  const row = await runRow(fault, planned);
  rows.push(row);
  say(`  ${fault}: ${rowProblem(row) ?? 'target met'} (${row.tookS.toFixed(0)} s)`);
}
say('');
say(renderTable(rows));
const notes = rows.flatMap(rowNotes);
if (notes.length > 0) say('');
for (const note of notes) say(note);
const missed = rows.filter((row) => rowProblem(row) !== undefined);
say('');
say(`${missed.length === 0 ? 'PASS' : 'FAIL'}: ${rows.length - missed.length} of ${rows.length} rows met the target (0 reads over the bound) in ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (values.json === true) process.stdout.write(`${JSON.stringify(rows.map((row) => ({ ...row, problem: rowProblem(row) ?? null })))}\n`);
process.exitCode = missed.length === 0 ? 0 : 1;

/** One demo run under `fault`, as a row. */
async function runRow(fault: Fault, planned: number): Promise<ChaosRow> {
  const t0 = performance.now();
  const args = ['--import', TSX, MAIN, '--json', '--chaos', fault, '--faults', String(planned), '--degraded-ttl', ttl, '--bound', ttl, '--duration', '1', '--workers', values.workers, '--rate', values.rate];
  const env = { ...process.env };
  delete env['REDIS_URL'];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8_000)));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const tookS = (performance.now() - t0) / 1000;
  try {
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as DemoSummary;
    return { fault, planned, summary, tookS, broken: undefined };
  } catch {
    return { fault, planned, summary: undefined, tookS, broken: `the demo exited ${String(code)} without a summary: ${stderr.slice(-600)}` };
  }
}
