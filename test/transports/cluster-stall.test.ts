/**
 * A cluster primary whose event loop stalls relays nothing, though every IPC
 * channel stays open: no transport status changes. A worker hears its own
 * heartbeat only through the relay, so the stall shows as a lease that is not
 * renewed: its cache stops serving within degradedTtl of the stall's start,
 * reports the link degraded (lease-expired), and reconnects once the relay
 * runs again. Real processes: a node:cluster primary (a child of this test)
 * and two workers, their caches with a small degradedTtl.
 */
import { expect } from 'chai';
import { startClusterPrimary, stopClusterPrimary, type ClusterPrimary } from '../support/cluster-primary.ts';
import type { StallReply } from '../fixtures/cluster-primary.ts';
import type { CacheStatsReply, WatchReport, WorkerRequest } from '../fixtures/cluster-worker.ts';

const DEGRADED_TTL = 300;
/** The caches' default heartbeat for that degradedTtl (a quarter of it). */
const BEAT_INTERVAL = DEGRADED_TTL / 4;
/** Scheduling slack on a loaded machine: the watch polls every 5 ms, timers run late. */
const SLACK = 100;

describe('cluster transport: a stalled primary (real node:cluster primary and workers)', function () {
  this.timeout(30_000);
  let primary: ClusterPrimary | undefined;

  const drive = (): ClusterPrimary => {
    if (primary === undefined) throw new Error('the primary did not start');
    return primary;
  };
  const toWorker = (index: number, request: WorkerRequest): Promise<unknown> => drive().request({ op: 'worker', index, request });

  before(async () => {
    ({ primary } = await startClusterPrimary(2, { ...process.env, COHERENT_CACHE_FIXTURE_DEGRADED_TTL: String(DEGRADED_TTL) }));
    await Promise.all([0, 1].map((index) => toWorker(index, { op: 'ready' })));
  });

  after(() => stopClusterPrimary(primary));

  it(`a worker stops serving within degradedTtl (${DEGRADED_TTL} ms) of the stall, reports lease-expired, and reconnects after it`, async () => {
    expect(await toWorker(0, { op: 'watch', key: 'w' })).to.deep.equal({ serving: true, link: 'connected' });
    const stall = (await drive().request({ op: 'stall', ms: 3 * DEGRADED_TTL }, { timeoutMs: 10_000 })) as StallReply;

    // The relay runs again: the worker's next heartbeats come back and renew its lease.
    const deadline = Date.now() + 5_000;
    let report = (await toWorker(0, { op: 'watch-report' })) as WatchReport;
    while (!report.links.some((link) => link.state === 'connected') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      report = (await toWorker(0, { op: 'watch-report' })) as WatchReport;
    }
    const since = (at: number | undefined) => (at === undefined ? 'never' : `${at - stall.startedAt} ms after the stall began`);
    const story = `stall ${stall.endedAt - stall.startedAt} ms; stopped serving ${since(report.stoppedServingAt)}; links ${JSON.stringify(
      report.links.map((link) => ({ ...link, at: link.at - stall.startedAt, entriesExpireBy: link.entriesExpireBy === undefined ? undefined : link.entriesExpireBy - stall.startedAt })),
    )}`;

    // Served up to the stall; not past degradedTtl after it began, though nothing told the worker anything.
    expect(report.stoppedServingAt, story).to.be.a('number');
    expect(report.stoppedServingAt! - stall.startedAt, story).to.be.above(0).and.at.most(DEGRADED_TTL + SLACK);
    const [degraded, connected, ...rest] = report.links;
    expect(rest, story).to.deep.equal([]);
    expect(degraded, story).to.include({ state: 'degraded', reason: 'lease-expired' });
    // Its bound holds exactly (its own clock, no scheduling in it): nothing outlives degradedTtl past the stall's start.
    expect(degraded!.entriesExpireBy! - stall.startedAt, story).to.be.at.most(DEGRADED_TTL);
    // Detected by its heartbeat timer during the stall, within one beat of the lease's end.
    expect(degraded!.at - stall.startedAt, story).to.be.at.most(DEGRADED_TTL + BEAT_INTERVAL + SLACK);
    expect(degraded!.at, story).to.be.below(stall.endedAt);
    // Back once the relay ran again and its own heartbeat came back.
    expect(connected, story).to.include({ state: 'connected', reason: 'lease-renewed' });
    expect(connected!.at, story).to.be.at.least(stall.endedAt);
    // The watched entry was capped at entriesExpireBy while degraded and stays gone; what is stored now is served.
    expect(await toWorker(0, { op: 'has', key: 'w' })).to.equal(false);
    await toWorker(0, { op: 'set', key: 'after', value: 'v' });
    expect(await toWorker(0, { op: 'has', key: 'after' })).to.equal(true);
    expect(((await toWorker(0, { op: 'stats' })) as CacheStatsReply).link).to.equal('connected');
  });
});
