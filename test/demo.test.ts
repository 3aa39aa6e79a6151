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
import type { ChaosRow } from '../demo/chaos-table.ts';
import { CoherenceChecker, type ReadSample } from '../demo/checker.ts';
import { FreezeWatch } from '../demo/freeze-watch.ts';
import type { LoadSnapshot } from '../demo/loadgen.ts';
import { zeroCounts } from '../demo/loadgen.ts';
import { judge } from '../demo/verdict.ts';
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
  // Writes use ack: 'all': once one is acknowledged no worker serves the older version, at any bound.
  expect(summary.checker.staleReads, why).to.equal(0);
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

  it('with --verify and planted skipped invalidations (--lose): verification finds stale values, only on keys whose invalidation was skipped', async () => {
    const run = await runDemo(['--duration', '4', '--workers', '2', '--verify', '1', '--lose', '3']);
    const { summary } = run;
    expect(run.code, run.output).to.equal(0);
    expect(summary.checker.staleReads, run.output).to.be.greaterThan(0);
    expect(summary.verification?.violations, run.output).to.be.greaterThan(0);
    const lost = new Set(summary.verification?.lostKeys);
    for (const pair of summary.verification?.pairs ?? []) expect(lost.has(pair.slice(pair.indexOf(':') + 1)), `${pair}\n${run.output}`).to.equal(true);
    expect(summary.verification?.agree, run.output).to.equal(true);
  });

  it('with --verify and nothing lost: no violation, no stale read', async () => {
    const run = await runDemo(['--duration', '3', '--workers', '2', '--verify', '0.5']);
    expectHealthy(run, 'cluster-ipc');
    expect(run.summary.verification).to.deep.include({ violations: 0, pairs: [], lostKeys: [], agree: true });
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

    it('--chaos redis: the subscriber connections are killed mid-run; the caches degrade, repair the gap from the log, and stay within the bound', async () => {
      const run = await runDemo(['--duration', '3', '--workers', '2', '--chaos', 'redis'], server.url);
      expectHealthy(run, 'redis');
      expect(run.summary.checker.boundMs).to.equal(1_250);
      expect(run.summary.chaosEvents.map((event) => event.what).join('\n'), run.output).to.match(/CLIENT KILL TYPE pubsub closed [1-9]/);
      expect(run.summary.degradations, run.output).to.be.at.least(2);
      // Each worker starts with one full resync (it reads where the log stands); the gaps chaos makes are repaired exactly.
      expect(run.summary.resyncs.exact, run.output).to.be.at.least(2);
      expect(run.summary.resyncs.full, run.output).to.equal(2);
      expect(run.summary.resyncs.loadsAvoided, run.output).to.be.greaterThan(0);
      expect(run.output).to.match(/gap repairs: \d+ exact from the log, 2 full .*loads avoided by the exact ones: [1-9]/);
    });
  });

  it('--chaos worker: one worker is killed mid-run and replaced; still no stale read past the bound', async () => {
    // Half the default rate: forking the replacement (tsx compiling it) is the heaviest moment of any run on a small machine.
    const run = await runDemo(['--duration', '3', '--workers', '2', '--chaos', 'worker', '--rate', '1000']);
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

describe('npm run chaos (short)', function () {
  // Two fault types, two injections each: the Redis server frozen without closing TCP, and the
  // node:cluster relay stalled. The full matrix (every fault type, 5-10 times each) is `npm run chaos`.
  this.timeout(90_000);
  const chaosRun = new AbortController();
  after(() => chaosRun.abort());

  it('no read is staler than degradedTtl past an acknowledged write, under redis-sigstop and primary-stall', async () => {
    const { code, stdout, stderr } = await runProcess(process.execPath, ['--import', TSX, 'demo/chaos-matrix.ts', '--json', '--only', 'redis-sigstop,primary-stall', '--times', '2', '--workers', '2'], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: '' },
      signal: chaosRun.signal,
    });
    const why = `exit ${String(code)}\n${stderr}`;
    let rows: (ChaosRow & { problem: string | null })[] = [];
    try {
      rows = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as typeof rows;
    } catch {
      expect.fail(`npm run chaos printed no JSON rows\n${why}`);
    }
    expect(rows.map((row) => row.fault), why).to.deep.equal(['redis-sigstop', 'primary-stall']);
    for (const row of rows) {
      expect(row.summary, `${row.fault}: ${row.broken ?? ''}\n${why}`).to.not.equal(undefined);
      const summary = row.summary as DemoSummary;
      expect(summary.faultsInjected, `${row.fault}\n${why}`).to.equal(2);
      expect(summary.checker.boundMs, why).to.equal(300);
      expect(summary.checker.readsChecked, `${row.fault}\n${why}`).to.be.greaterThan(0);
      expect(summary.checker.violations, `${row.fault}: reads over the bound\n${why}`).to.equal(0);
    }
    expect(code, why).to.equal(0);
  });
});

const read = (over: Partial<ReadSample> & Pick<ReadSample, 'startedAt' | 'version'>): ReadSample => ({ key: 'k', worker: 1, servedAt: over.startedAt, ...over });

describe('demo coherence checker', () => {
  it('judges only reads that started after an acknowledged write, from its ack to when they were served', () => {
    const stale: number[] = [];
    const checker = new CoherenceChecker(100, (_, ms) => stale.push(ms));
    for (const [version, at] of [[2, 1_000], [3, 1_050]] as const) {
      checker.writeSent('k', at - 10);
      checker.writeAcked('k', version, at);
    }
    checker.readServed(read({ startedAt: 999, servedAt: 1_500, version: 1 })); // started before any ack: not judged
    checker.readServed(read({ startedAt: 1_010, version: 2 })); // fresh
    checker.readServed(read({ startedAt: 1_020, version: 1 })); // missed v2, acked 20 ms before
    checker.readServed(read({ startedAt: 1_020, servedAt: 1_080, version: 1 })); // missed v2 (the earliest), served 80 ms after its ack
    checker.readServed(read({ worker: 2, startedAt: 1_200, version: 2 })); // missed v3: past the bound
    checker.readServed(read({ key: 'other', startedAt: 5_000, version: 1 }));
    expect(stale).to.deep.equal([20, 80, 150]);
    const verdict = checker.verdict();
    expect(verdict).to.include({ writesAcked: 2, readsChecked: 4, staleReads: 3, violations: 1, worstStalenessMs: 150, ok: false });
    expect(verdict.worst).to.deep.equal({ key: 'k', worker: 2, served: 2, expected: 3, stalenessMs: 150, how: '?', startedAfterAckMs: 150, answerMs: 0 });
  });

  it('waits for the writes in flight when a read started before judging it, and counts writes not acknowledged', () => {
    const checker = new CoherenceChecker(100);
    checker.writeSent('k', 1_000);
    checker.writeSent('j', 1_001);
    // Answered before the write it should have seen: not judged yet.
    checker.readServed(read({ startedAt: 1_300, version: 1 }));
    expect(checker.verdict().readsChecked).to.equal(0);
    checker.writeAcked('k', 2, 1_100);
    expect(checker.verdict().readsChecked, 'j is still in flight').to.equal(0);
    checker.writeEnded('j', true);
    expect(checker.verdict()).to.include({ readsChecked: 1, staleReads: 1, violations: 1, worstStalenessMs: 200, writesUnacked: 1 });
  });

  it('ignores an older version acknowledged after a newer one', () => {
    const checker = new CoherenceChecker(100);
    checker.writeAcked('k', 3, 1_000);
    checker.writeAcked('k', 2, 1_010);
    checker.readServed(read({ startedAt: 1_020, version: 3 }));
    checker.readServed(read({ startedAt: 1_020, version: 2 }));
    expect(checker.verdict()).to.include({ readsChecked: 2, staleReads: 1, worstStalenessMs: 20 });
  });
});

describe('demo verdict', () => {
  const snapshot = (over: Partial<LoadSnapshot>): LoadSnapshot => ({
    counts: [],
    readsDue: 10_000,
    shed: 0,
    verdict: new CoherenceChecker(250).verdict(),
    errors: [],
    freezes: [],
    machine: { maxLoadAverage: 0.5, cores: 2, maxTimerLateMs: 3 },
    ...over,
  });
  const options = { bound: 250, chaos: 'none', faults: 1, errorBudget: 0.5, lose: 0 } as const;
  const metrics = { scrapedWorkers: [], names: [], hits: [] };

  it('names a frozen worker before the read errors and shed reads it caused, with their reasons', () => {
    const freezes = new FreezeWatch();
    freezes.started(2, 0);
    freezes.started(1, 0);
    freezes.ended(1, 100);
    freezes.ended(2, 3_400);
    const load = snapshot({ shed: 600, errors: [{ reason: 'reads on worker 2: no answer within 5000 ms', count: 80 }], freezes: freezes.all(3_400) });
    const failures = judge({ options, load, totals: { ...zeroCounts(), readErrors: 80 }, metrics, faultsInjected: 0, interrupted: false });
    expect(failures).to.have.length(3);
    expect(failures[0]).to.equal('worker 2 froze: no progress for 3.4 s from 0.0 s into the load, 1 request(s) pending');
    expect(failures[1]).to.match(/^80 read errors \(0\.80 % of the 10,000 reads due, budget 0\.5 %\): 80 × reads on worker 2: no answer within 5000 ms$/);
    expect(failures[2]).to.match(/^600 reads shed by the load generator/);
  });

  it('says a worker that answered nothing while the primary was frozen was waiting for the store there', () => {
    const freezes = new FreezeWatch();
    freezes.primaryAlive(0, 100);
    freezes.started(1, 150);
    freezes.ended(1, 2_750);
    freezes.primaryAlive(3_100, 100);
    const failures = judge({ options, load: snapshot({ freezes: freezes.all(3_100) }), totals: zeroCounts(), metrics, faultsInjected: 0, interrupted: false });
    expect(failures).to.deep.equal([
      'the primary (the cluster relay and the config store) froze: no progress for 3.0 s from 0.1 s into the load',
      'worker 1 answered nothing while the primary was frozen (its reads wait for the config store there): no progress for 2.6 s from 0.1 s into the load, 1 request(s) pending',
    ]);
  });

  it('says the machine was overloaded when reads were shed while other processes held the cores', () => {
    const load = snapshot({ shed: 900, machine: { maxLoadAverage: 9.2, cores: 2, maxTimerLateMs: 640 } });
    expect(judge({ options, load, totals: zeroCounts(), metrics, faultsInjected: 0, interrupted: false })).to.deep.equal([
      "900 reads shed by the load generator (9.00 % of the 10,000 reads due, budget 0.5 %): that many reads came due while 1000 were already pending — the machine was overloaded meanwhile (load average up to 9.2 on 2 cores, the load generator's own 5 ms timer up to 640 ms late)",
    ]);
  });

  it('passes read errors and shed reads within the budget', () => {
    const load = snapshot({ shed: 50, errors: [{ reason: 'reads on worker 1: ECONNRESET', count: 3 }] });
    expect(judge({ options, load, totals: { ...zeroCounts(), readErrors: 3 }, metrics, faultsInjected: 0, interrupted: false })).to.deep.equal([]);
  });
});
