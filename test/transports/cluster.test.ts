/**
 * The cluster transport between real processes: a node:cluster primary (a child
 * of this test) with the relay and three workers, each with a cache named
 * `config` on the cluster transport. The test talks to the primary over its
 * IPC channel; the primary talks to the workers over theirs, with application
 * messages that share the channel with the transport's own.
 */
import { expect } from 'chai';
import { clusterTransport, CLUSTER_IPC_MARKER, installClusterRelay, type ClusterTransport } from '../../src/transports/cluster.ts';
import { startClusterPrimary, stopClusterPrimary, type ClusterPrimary } from '../support/cluster-primary.ts';
import { rejectionOf } from '../support/rejection.ts';
import type { PrimaryPush } from '../fixtures/cluster-primary.ts';
import type { CacheRequest, CacheStatsReply, WorkerLine, WorkerPush, WorkerRequest } from '../fixtures/cluster-worker.ts';

const CHANNEL = 'coherent-cache:config';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('cluster transport in one process', () => {
  it('refuses to start outside a cluster worker unless the primary installed the relay', () => {
    expect(() => clusterTransport()).to.throw(/needs a node:cluster worker, or a cluster primary that called installClusterRelay\(\) first/);
  });

  it('in a primary with the relay: transports hear this process\'s publishes; uninstalled, they are disconnected', async () => {
    const uninstall = installClusterRelay();
    const again = installClusterRelay();
    const transports: ClusterTransport[] = [clusterTransport(), clusterTransport()];
    try {
      const heard: string[][] = [[], []];
      await Promise.all(transports.map((transport, i) => transport.subscribe('ch', (payload) => heard[i]!.push(payload))));
      expect(transports.map((t) => t.status)).to.deep.equal(['connected', 'connected']);
      const publish = transports[0]!.publish('ch', ['a', 'b']);
      expect(heard).to.deep.equal([[], []], 'delivered inside the publish call');
      await publish;
      expect(heard).to.deep.equal([['a', 'b'], ['a', 'b']]);

      const changes: string[] = [];
      transports[1]!.onStatus((change) => changes.push(`${change.status}/${change.reason}`));
      let writable = 0;
      transports[1]!.onWritable(() => writable++);
      uninstall();
      uninstall();
      expect(transports[1]!.status, 'one install is still in force').to.equal('connected');
      again();
      expect(changes).to.deep.equal(['disconnected/connection-lost']);
      expect((await rejectionOf(transports[1]!.publish('ch', ['c']))).message).to.equal('cluster transport is disconnected');
      // Installed again: connected, and writable (what its caches queued can go now).
      const reinstall = installClusterRelay();
      expect(changes).to.deep.equal(['disconnected/connection-lost', 'connected/connected']);
      expect(writable).to.equal(1);
      reinstall();
      expect(() => clusterTransport()).to.throw(/installClusterRelay/);
    } finally {
      await Promise.all(transports.map((t) => t.close()));
    }
    expect(transports[0]!.status).to.equal('closed');
  });
});

describe('cluster transport (real node:cluster primary and workers)', function () {
  this.timeout(20_000);
  let primary: ClusterPrimary | undefined;
  let workerPids: number[] = [];
  let ids: string[] = [];
  let primaryId = '';

  const drive = (): ClusterPrimary => {
    if (primary === undefined) throw new Error('the primary did not start');
    return primary;
  };
  const toWorker = (index: number, request: WorkerRequest): Promise<unknown> => drive().request({ op: 'worker', index, request });
  const toPrimaryCache = (request: CacheRequest): Promise<unknown> => drive().request({ op: 'primary', request });
  const statsOf = async (index: number): Promise<CacheStatsReply> => (await toWorker(index, { op: 'stats' })) as CacheStatsReply;

  /** The next push of worker `index` (or of the primary's cache, index 'primary') that matches. */
  async function pushFrom(index: number | 'primary', matches: (push: WorkerPush) => boolean): Promise<WorkerPush> {
    const found = await drive().waitFor((m) => {
      if (m.type === 'primary') return index === 'primary' && matches(m.push);
      return m.type === 'worker' && m.index === index && matches(m.push);
    });
    return (found as { push: WorkerPush }).push;
  }
  const remoteKey = (key: string) => (push: WorkerPush) => push.type === 'remote-invalidated' && push.scope === 'key' && push.key === key;
  const link = (state: string) => (push: WorkerPush) => push.type === 'link' && push.state === state;
  const exitOf = async (index: number) => (await drive().waitFor((m) => m.type === 'exit' && m.index === index)) as Extract<PrimaryPush, { type: 'exit' }>;
  /** Pushes since `from` (an index into the primary's push history). */
  const pushesSince = (from: number): PrimaryPush[] => drive().pushes.slice(from);

  before(async () => {
    ({ primary, workerPids } = await startClusterPrimary(3));
    ids = (await Promise.all([0, 1, 2].map((index) => toWorker(index, { op: 'ready' })))) as string[];
    primaryId = (await toPrimaryCache({ op: 'ready' })) as string;
  });

  after(async () => {
    await stopClusterPrimary(primary);
    if (primary !== undefined) expect([primary.pid, ...workerPids].filter(alive), 'processes still running').to.deep.equal([]);
  });

  it('an invalidation in one worker drops the key in the others and the primary, relayed once to every worker, the sender included', async () => {
    for (const index of [0, 1, 2]) await toWorker(index, { op: 'set', key: 'k', value: 'v' });
    await toPrimaryCache({ op: 'set', key: 'k', value: 'v' });
    const before = await Promise.all([0, 1, 2].map(statsOf));

    await toWorker(0, { op: 'invalidate', key: 'k' });
    for (const index of [1, 2, 'primary'] as const) {
      const push = await pushFrom(index, remoteKey('k'));
      expect(push).to.include({ origin: ids[0] });
    }
    expect(await Promise.all([0, 1, 2].map((index) => toWorker(index, { op: 'has', key: 'k' })))).to.deep.equal([false, false, false]);
    expect(await toPrimaryCache({ op: 'has', key: 'k' })).to.equal(false);
    // The sender hears its own message back from the relay (its cache skips it); a second forward (the relay is
    // installed twice) would have arrived before these requests.
    const after = await Promise.all([0, 1, 2].map(statsOf));
    expect(after.map((s, i) => s.markedReceived - before[i]!.markedReceived)).to.deep.equal([1, 1, 1]);
    expect(await toWorker(0, { op: 'has', key: 'k' }), 'the echo is not a remote invalidation').to.equal(false);
    expect(drive().pushes.filter((m) => m.type === 'worker' && m.index === 0 && m.push.type === 'remote-invalidated' && m.push.key === 'k')).to.deep.equal([]);
  });

  it('invalidateAll in one worker clears the others', async () => {
    for (const index of [0, 2]) {
      await toWorker(index, { op: 'set', key: 'a', value: 'A' });
      await toWorker(index, { op: 'set', key: 'b', value: 'B' });
    }
    await toWorker(1, { op: 'invalidate-all' });
    for (const index of [0, 2, 'primary'] as const) {
      const push = await pushFrom(index, (p) => p.type === 'remote-invalidated' && p.scope === 'all');
      expect(push).to.include({ origin: ids[1] });
    }
    expect((await statsOf(0)).size).to.equal(0);
    expect((await statsOf(2)).size).to.equal(0);
  });

  it('a cache in the primary reaches every worker', async () => {
    await toPrimaryCache({ op: 'invalidate', key: 'p' });
    for (const index of [0, 1, 2]) expect(await pushFrom(index, remoteKey('p'))).to.include({ origin: primaryId });
  });

  it('the application\'s own IPC messages still flow; malformed marked messages are dropped without harm', async () => {
    const from = drive().pushes.length;
    await drive().request({ op: 'raw', index: 0, message: { app: 'down' } });
    expect(await pushFrom(0, (p) => p.type === 'foreign')).to.deep.equal({ type: 'foreign', value: { app: 'down' } });
    await toWorker(2, { op: 'send-to-primary', value: { app: 'up' } });
    expect(await drive().waitFor((m) => m.type === 'foreign')).to.deep.equal({ type: 'foreign', index: 2, value: { app: 'up' } });

    const hostile: object[] = [
      { [CLUSTER_IPC_MARKER]: 1, channel: 42 },
      { [CLUSTER_IPC_MARKER]: 1 },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: 'not an array' },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: [1, null] },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: [{ v: 1 }] },
      { [CLUSTER_IPC_MARKER]: 1, control: 'explode' },
    ];
    const before1 = await statsOf(1);
    for (const message of hostile) {
      await drive().request({ op: 'raw', index: 0, message });
      await toWorker(2, { op: 'send-to-primary', value: message });
    }
    // Well-formed for the transport, garbage for the cache: it reaches the cache, which rejects it.
    await drive().request({ op: 'raw', index: 0, message: { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: ['{"v":1,"op":"nonsense"}'] } });
    await pushFrom(0, (p) => p.type === 'rejected');

    // Everyone is alive and coherent.
    await toWorker(1, { op: 'invalidate', key: 'after' });
    await pushFrom(0, remoteKey('after'));
    await pushFrom(2, remoteKey('after'));
    const since = pushesSince(from);
    expect(since.filter((m) => m.type === 'worker' && m.push.type === 'rejected'), 'only the garbage payload reached a cache').to.have.length(1);
    expect(since.filter((m) => m.type === 'exit')).to.deep.equal([]);
    expect((await statsOf(1)).markedReceived - before1.markedReceived, 'nothing malformed was relayed, only its own invalidation came back').to.equal(1);
  });

  it('while the relay is uninstalled the caches degrade and queue; reinstalled, they reconnect, hear onWritable and flush', async () => {
    const writableBefore = (await statsOf(0)).writable;
    await drive().request({ op: 'uninstall-relay' });
    for (const index of [0, 1, 2, 'primary'] as const) expect(await pushFrom(index, link('degraded'))).to.include({ reason: 'connection-lost' });
    expect((await statsOf(0)).transport).to.equal('disconnected');

    await toWorker(1, { op: 'set', key: 'q', value: 'Q' });
    // Nothing can accept it now: its acknowledgement would come only after the relay is back.
    await toWorker(0, { op: 'invalidate-nowait', key: 'q' });
    await pushFrom(0, (p) => p.type === 'publish-failed');

    await drive().request({ op: 'install-relay' });
    for (const index of [0, 1, 2, 'primary'] as const) await pushFrom(index, link('connected'));
    expect(await pushFrom(1, remoteKey('q'))).to.include({ origin: ids[0] });
    const after = await statsOf(0);
    expect(after.link).to.equal('connected');
    expect(after.writable - writableBefore, 'the relay answering again is announced once').to.equal(1);
  });

  it('a killed worker does not stop the others', async () => {
    await drive().request({ op: 'kill', index: 2 });
    expect(await exitOf(2)).to.include({ signal: 'SIGKILL' });
    const failuresBefore = (await statsOf(0)).publishFailed;
    await toWorker(1, { op: 'set', key: 'k4', value: 'v' });
    await toWorker(0, { op: 'invalidate', key: 'k4' });
    await pushFrom(1, remoteKey('k4'));
    await pushFrom('primary', remoteKey('k4'));
    expect(await toWorker(1, { op: 'has', key: 'k4' })).to.equal(false);
    expect((await statsOf(0)).publishFailed).to.equal(failuresBefore);
  });

  it('a worker whose IPC channel closes reports the lost link before it exits', async () => {
    await toWorker(1, { op: 'disconnect' });
    const reported = (await drive().waitFor((m) => m.type === 'stdout' && m.index === 1)) as { line: WorkerLine };
    expect(reported.line).to.deep.equal({ type: 'link', state: 'degraded', reason: 'connection-lost', transport: 'disconnected' });
    // cluster ends a worker whose channel closed unplanned, with code 0.
    expect(await exitOf(1)).to.include({ code: 0 });
    await toWorker(0, { op: 'invalidate', key: 'last' });
    await pushFrom('primary', remoteKey('last'));
  });
});
