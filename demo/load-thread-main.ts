/**
 * The load generator's thread (started by load-thread.ts): runs a
 * LoadGenerator on the primary's commands and posts what it has seen every
 * SNAPSHOT_MS, and once more, complete, when it has stopped. Its own event
 * loop keeps the clients going, and the checker judging, while the primary's
 * is held up (--chaos primary-stall).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LoadGenerator, type LoadSettings } from './loadgen.ts';
import { ALIVE_MS } from './freeze-watch.ts';
import type { LoadCommand, LoadReport } from './load-thread.ts';

const SNAPSHOT_MS = 200;

if (parentPort === null) throw new Error('demo/load-thread-main.ts runs as a worker thread of the demo primary');
const port = parentPort;
const loadgen = new LoadGenerator(workerData as LoadSettings);
const post = (report: LoadReport): void => port.postMessage(report);
const snapshots = setInterval(() => post({ kind: 'snapshot', snapshot: loadgen.snapshot() }), SNAPSHOT_MS);

port.on('message', (command: LoadCommand) => {
  if (command.kind === 'add') loadgen.addTarget(command.target);
  else if (command.kind === 'remove') {
    loadgen.removeTarget(command.worker, command.killed);
    post({ kind: 'removed', worker: command.worker });
  }
  else if (command.kind === 'start') loadgen.start();
  else if (command.kind === 'alive') loadgen.primaryAlive(ALIVE_MS);
  else void stop();
});

async function stop(): Promise<void> {
  await loadgen.stop();
  clearInterval(snapshots);
  loadgen.close();
  post({ kind: 'stopped', snapshot: loadgen.snapshot() });
  port.close();
}
