// The demo (`npm start`) as a real process tree: a node:cluster primary with its
// workers, in both transport modes, plus a run that kills a worker mid-way.
//
// The demo itself scrapes /metrics of every live worker just before it stops them
// and puts what it saw in its --json summary; the test does not scrape while the
// demo runs. That keeps the test free of sleeps and port discovery (the workers'
// ports are random and only live for a 3 s run), and it measures the same thing at
// a better moment: after the last request, so the scraped hit counter must equal,
// exactly, the hits the load generator saw through the x-cache header.
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { DemoSummary } from '../demo/main.ts';
import { CoherenceChecker } from '../demo/checker.ts';
import { METRICS } from '../src/telemetry/catalogue.ts';
import { runProcess } from './support/child.ts';
import { startRedis, type RedisServer } from './support/redis-server.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface DemoRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly summary: DemoSummary;
  readonly output: string;
}

/** Aborted after the suite: a demo still running then is killed. */
const running = new AbortController();

/** Runs demo/main.ts to its end and parses the --json line. */
async function runDemo(args: readonly string[], redisUrl?: string): Promise<DemoRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['REDIS_URL'];
  if (redisUrl !== undefined) env['REDIS_URL'] = redisUrl;
  const { code, signal, stdout, ...rest } = await runProcess(process.execPath, ['--import', TSX, 'demo/main.ts', '--json', ...args], { cwd: ROOT, env, signal: running.signal });
  const stderr = rest.stderr.slice(-32_000);
  const output = `exit ${String(code)} ${String(signal)}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
  const last = stdout.trim().split('\n').at(-1) ?? '';
  let summary: DemoSummary;
  try {
    summary = JSON.parse(last) as DemoSummary;
  } catch {
    throw new Error(`the demo printed no JSON summary\n${output}`);
  }
  return { code, signal, summary, output };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What every healthy run shows, whatever the transport and the chaos. */
function expectHealthy(run: DemoRun, mode: DemoSummary['mode']): void {
  const { summary } = run;
  const why = run.output;
  expect(run.code, why).to.equal(0);
  expect(summary.ok, why).to.equal(true);
  expect(summary.failures, why).to.deep.equal([]);
  expect(summary.mode).to.equal(mode);
  // The checker's verdict, and that it had something to judge.
  expect(summary.checker.violations, why).to.equal(0);
  expect(summary.checker.worstStalenessMs, why).to.be.at.most(summary.checker.boundMs);
  expect(summary.checker.writesAcked, why).to.be.greaterThan(0);
  expect(summary.checker.readsChecked, why).to.be.greaterThan(0);
  expect(summary.reads.ok, why).to.be.greaterThan(500);
  expect(summary.writes.acked, why).to.be.greaterThan(0);
  expect(summary.hitRatio, why).to.be.greaterThan(0.5);
  // Writes on one worker reached the others.
  expect(summary.invalidations.local, why).to.be.greaterThan(0);
  expect(summary.invalidations.remote, why).to.be.greaterThan(0);
  expect(summary.lagMs.samples, why).to.be.greaterThan(0);
  // /metrics served every catalogued series, and its hit counter agrees with what the clients saw.
  expect(summary.metrics.scrapedWorkers.length, why).to.be.greaterThan(0);
  expect(summary.metrics.names, why).to.include.members(METRICS.map((metric) => metric.prometheusName));
  for (const hits of summary.metrics.hits) expect(hits.metric, `worker ${hits.worker}\n${why}`).to.equal(hits.observed);
  // Nothing is left running.
  for (const row of summary.perWorker) expect(isAlive(row.pid), `worker ${row.worker} (pid ${row.pid}) still alive`).to.equal(false);
}

describe('demo (npm start)', function () {
  this.timeout(40_000);

  after(() => running.abort());

  it('over node:cluster IPC: every read after an acknowledged write is fresh within the bound', async () => {
    const run = await runDemo(['--duration', '3', '--workers', '2']);
    expectHealthy(run, 'cluster-ipc');
    expect(run.summary.chaos).to.equal('none');
    expect(run.summary.checker.boundMs).to.equal(250);
    // Every acknowledged write was one local invalidation, heard by the one other worker.
    expect(run.summary.invalidations.local, run.output).to.equal(run.summary.writes.acked);
    expect(run.summary.invalidations.remote, run.output).to.equal(run.summary.writes.acked);
  });

  describe('over Redis', () => {
    let server: RedisServer;
    before(async () => {
      server = await startRedis();
    });
    after(async () => {
      await server.stop();
    });

    it('every read after an acknowledged write is fresh within the bound', async () => {
      const run = await runDemo(['--duration', '3', '--workers', '2'], server.url);
      expectHealthy(run, 'redis');
      expect(run.summary.degradations).to.equal(0);
      expect(run.summary.invalidations.local, run.output).to.equal(run.summary.writes.acked);
      expect(run.summary.invalidations.remote, run.output).to.equal(run.summary.writes.acked);
    });

    it('--chaos redis: the subscriber connections are killed mid-run; the caches degrade, resync, and stay within the bound', async () => {
      const run = await runDemo(['--duration', '3', '--workers', '2', '--chaos', 'redis'], server.url);
      expectHealthy(run, 'redis');
      expect(run.summary.checker.boundMs).to.equal(1_250);
      expect(run.summary.chaosEvents.map((event) => event.what).join('\n'), run.output).to.match(/CLIENT KILL TYPE pubsub closed [1-9]/);
      expect(run.summary.degradations, run.output).to.be.at.least(2);
      expect(run.summary.resyncs, run.output).to.be.at.least(2);
    });
  });

  it('--chaos worker: one worker is killed mid-run and replaced; still no stale read past the bound', async () => {
    const run = await runDemo(['--duration', '3', '--workers', '2', '--chaos', 'worker']);
    expectHealthy(run, 'cluster-ipc');
    const states = run.summary.perWorker.map((row) => row.state);
    expect(states, run.output).to.include('killed (chaos)');
    expect(states, run.output).to.include('replacement');
    expect(run.summary.chaosEvents.map((event) => event.what).join('\n'), run.output).to.match(/killed worker \d+/);
  });

  it('rejects a bad flag with exit code 2 and the usage', async () => {
    const { code, stderr } = await runProcess(process.execPath, ['--import', TSX, 'demo/main.ts', '--chaos', 'redis'], { cwd: ROOT, env: { ...process.env, REDIS_URL: '' }, signal: running.signal });
    expect(code).to.equal(2);
    expect(stderr).to.match(/--chaos redis needs REDIS_URL/).and.to.match(/usage:/);
  });
});

describe('demo coherence checker', () => {
  it('judges only reads that started after an acknowledged write, by the earliest write they missed', () => {
    const checker = new CoherenceChecker(100);
    checker.writeAcked('k', 2, 1_000);
    checker.writeAcked('k', 3, 1_050);
    expect(checker.readServed('k', 1, 999, 1)).to.equal(undefined); // started before any ack: not judged
    expect(checker.readServed('k', 1, 1_010, 2)).to.equal(undefined); // fresh
    expect(checker.readServed('k', 1, 1_020, 1)).to.equal(20); // missed v2, acked 20 ms before
    expect(checker.readServed('k', 1, 1_080, 1)).to.equal(80); // missed v2 (the earliest), not v3
    expect(checker.readServed('k', 2, 1_200, 2)).to.equal(150); // missed v3: past the bound
    expect(checker.readServed('other', 1, 5_000, 1)).to.equal(undefined);
    const verdict = checker.verdict();
    expect(verdict).to.include({ readsChecked: 4, staleReads: 3, violations: 1, worstStalenessMs: 150, ok: false });
    expect(verdict.worst).to.deep.equal({ key: 'k', worker: 2, served: 2, expected: 3, stalenessMs: 150 });
  });

  it('ignores an older version acknowledged after a newer one', () => {
    const checker = new CoherenceChecker(100);
    checker.writeAcked('k', 3, 1_000);
    checker.writeAcked('k', 2, 1_010);
    expect(checker.readServed('k', 1, 1_020, 3)).to.equal(undefined);
    expect(checker.readServed('k', 1, 1_020, 2)).to.equal(20);
  });
});
