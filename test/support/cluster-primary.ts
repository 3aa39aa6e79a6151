/** The real node:cluster primary fixture as a child process, started with its workers and shut down with them. */
import { spawnChild, type ChildWorker } from './child.ts';
import type { PrimaryPush, PrimaryRequest } from '../fixtures/cluster-primary.ts';

export type ClusterPrimary = ChildWorker<PrimaryRequest, unknown, PrimaryPush>;

/** Starts the primary fixture (with `env`, e.g. the fixture caches' degradedTtl) and forks `workers` workers; returns it and their pids. */
export async function startClusterPrimary(workers: number, env: NodeJS.ProcessEnv = process.env): Promise<{ primary: ClusterPrimary; workerPids: number[] }> {
  const primary = await spawnChild<PrimaryRequest, unknown, PrimaryPush>(new URL('../fixtures/cluster-primary.ts', import.meta.url), [], { env });
  const workerPids = (await primary.request({ op: 'start', workers }, { timeoutMs: 15_000 })) as number[];
  return { primary, workerPids };
}

/** Asks the primary to shut its workers down, then makes sure it is gone. */
export async function stopClusterPrimary(primary: ClusterPrimary | undefined): Promise<void> {
  if (primary === undefined) return;
  try {
    await primary.request({ op: 'shutdown' });
  } finally {
    primary.kill();
    await primary.exited;
  }
}
