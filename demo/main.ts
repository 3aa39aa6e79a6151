/**
 * `npm start`: a small config service in several processes, kept coherent by
 * coherent-cache. The primary holds the (slow) config store and runs a load
 * generator and a coherence checker against N workers, each serving HTTP on
 * its own loopback port with a cache in front of the store. Invalidations go
 * through node:cluster IPC (relayed by this primary) or, with REDIS_URL set,
 * through Redis pub/sub.
 *
 *   node --import tsx demo/main.ts [--duration 20] [--workers 3] [--rate 2000] [--keys 50]
 *                                  [--writes 10] [--chaos <fault>] [--faults n] [--degraded-ttl ms]
 *                                  [--bound ms] [--error-budget %] [--json]
 *
 * Exit code: 0 when the checker saw no read staler than the bound, read errors
 * and shed reads stayed within the error budget, every fault was injected and
 * every worker behaved; 1 otherwise, with the reason (a frozen worker before
 * the errors it caused); 2 on a usage error. Ctrl-C stops the run early (a
 * second Ctrl-C kills the workers at once).
 *
 * This file is only the command line: options in, exit code out. The run itself
 * is run.ts; the pieces it wires are supervisor.ts (the workers), load-thread.ts
 * (the load generator and checker, in a thread of their own), chaos.ts and
 * faults.ts, progress.ts, summary.ts, verdict.ts and final-report.ts.
 * `npm run chaos` (chaos-matrix.ts) runs it once per fault type.
 */
import cluster from 'node:cluster';
import { parseOptions, USAGE, UsageError, type DemoOptions } from './args.ts';
import { watchExit } from './exit-watchdog.ts';
import { run } from './run.ts';

/** The JSON line `--json` prints (test/demo.test.ts parses it). */
export type { DemoSummary } from './summary.ts';

if (!cluster.isPrimary) throw new Error('demo/main.ts is the primary; workers run demo/worker.ts');

let parsed: DemoOptions | 'help';
try {
  parsed = parseOptions(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`${error.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (parsed === 'help') {
  process.stdout.write(`${USAGE}\n`);
} else {
  process.exitCode = await run(parsed);
  // Everything was closed: the process now exits by itself. If something still holds it, say what and exit.
  watchExit(3_000, (heldBy) => {
    process.stderr.write(`demo: still running 3 s after the end, held by ${heldBy}; exiting\n`);
    process.exit(process.exitCode === 0 ? 3 : process.exitCode);
  });
}
