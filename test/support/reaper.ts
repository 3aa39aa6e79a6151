/**
 * Nothing a test or benchmark starts may outlive it: every tracked child
 * process is SIGKILLed (which also ends a SIGSTOPped one) and every tracked
 * temp dir removed when this process exits or is interrupted. mocha forwards
 * Ctrl-C as SIGINT+SIGTERM, and without a handler Node dies on those without
 * running 'exit' handlers, so the handler re-raises the signal when it is the
 * last listener, keeping the default behaviour and exit status.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

function reapSync(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

process.on('exit', reapSync);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    reapSync();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

/** Kills `child` when this process ends, unless it exited first (call `untrackChild` then). */
export function trackChild(child: ChildProcess): void {
  children.add(child);
}

export function untrackChild(child: ChildProcess): void {
  children.delete(child);
}

/** Removes `dir` when this process ends. */
export function trackDir(dir: string): void {
  dirs.add(dir);
}

/** Removes `dir` now (and forgets it). */
export function removeDir(dir: string): void {
  dirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}
