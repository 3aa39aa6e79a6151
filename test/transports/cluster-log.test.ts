/**
 * The cluster transport with the relay's log: the primary numbers what it
 * relays, marks heartbeats with the log's head and answers the workers' reads
 * over IPC, so a worker that missed messages (lost on the way, or its link
 * interrupted) repairs exactly: only the keys invalidated meanwhile are
 * dropped. A trimmed log falls back to a full resync; a relay that does not
 * answer fails the read after readTimeout and the lease lapses meanwhile.
 * First in this process (acting as the primary, without workers), then with
 * real node:cluster processes whose primary loses messages on purpose.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { CacheOptionError } from '../../src/cache/errors.ts';
import { clusterTransport, CLUSTER_IPC_MARKER, installClusterRelay, type ClusterTransport } from '../../src/transports/cluster.ts';
import type { DeliveredPosition } from '../../src/transports/transport.ts';
import { startClusterPrimary, stopClusterPrimary, type ClusterPrimary } from '../support/cluster-primary.ts';
import { rejectionOf } from '../support/rejection.ts';
import type { Loss } from '../fixtures/cluster-primary.ts';
import type { CachePush, WorkerPush, WorkerRequest } from '../fixtures/cluster-worker.ts';

const CHANNEL = 'coherent-cache:config';

function optionError(create: () => unknown): CacheOptionError {
  try {
    create();
  } catch (error) {
    expect(error).to.be.instanceOf(CacheOptionError);
    return error as CacheOptionError;
  }
  throw new Error('no CacheOptionError was thrown');
}

describe('cluster transport with the relay log, in one process (the primary)', () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  function relay(options?: Parameters<typeof installClusterRelay>[0]): void {
    closers.push(installClusterRelay(options));
  }
  function transport(options?: Parameters<typeof clusterTransport>[0]): ClusterTransport {
    const created = clusterTransport(options);
    closers.push(() => created.close());
    return created;
  }
  async function heard(endpoint: ClusterTransport): Promise<[string, DeliveredPosition | undefined][]> {
    const got: [string, DeliveredPosition | undefined][] = [];
    await endpoint.subscribe('ch', (payload, position) => got.push([payload, position]));
    return got;
  }

  it('validates its options, naming the one at fault', () => {
    expect(optionError(() => clusterTransport({ log: 'yes' as unknown as boolean })).option).to.equal('clusterTransport.log');
    expect(optionError(() => clusterTransport({ readTimeout: 0 })).option).to.equal('clusterTransport.readTimeout');
    expect(optionError(() => clusterTransport({ logs: true } as object)).option).to.equal('clusterTransport.logs');
    expect(optionError(() => clusterTransport(7 as unknown as object)).option).to.equal('clusterTransport');
    expect(optionError(() => installClusterRelay({ log: { maxEntries: 0 } })).option).to.equal('installClusterRelay.log.maxEntries');
    expect(optionError(() => installClusterRelay({ log: { maxAge: 10 } })).option).to.equal('installClusterRelay.log.maxAge');
    expect(optionError(() => installClusterRelay({ log: 'on' as unknown as boolean })).option).to.equal('installClusterRelay.log');
    expect(optionError(() => installClusterRelay({ logs: true } as object)).option).to.equal('installClusterRelay.logs');
    relay({ log: { maxEntries: 5 } });
    // Every install in force keeps the same log; the refused one does not count.
    expect(optionError(() => installClusterRelay()).option).to.equal('installClusterRelay.log');
    expect(optionError(() => installClusterRelay({ log: { maxEntries: 6 } })).option).to.equal('installClusterRelay.log');
    relay({ log: { maxEntries: 5, maxAge: 3_600_000 } });
  });

  it('numbers entries, marks heartbeats with the head, leaves plain payloads alone, and reads back what a gap missed', async () => {
    relay({ log: { maxEntries: 3 } });
    const [logged, plain] = [transport({ log: true }), transport()];
    const [got, gotPlain] = [await heard(logged), await heard(plain)];
    expect(plain.log, 'a transport without the option has no log').to.equal(undefined);
    await logged.publish('ch', ['a', 'b']);
    await plain.publish('ch', ['beat'], 'mark');
    await logged.publish('ch', ['legacy'], 'plain');
    await plain.publish('ch', ['c']);
    const epoch = got[0]?.[1]?.epoch as string;
    expect(epoch).to.be.a('string').and.not.equal('');
    expect(got).to.deep.equal([
      ['a', { epoch, seq: 1, entry: true }],
      ['b', { epoch, seq: 2, entry: true }],
      ['beat', { epoch, seq: 2, entry: false }],
      ['legacy', undefined],
      ['c', { epoch, seq: 3, entry: true }],
    ]);
    expect(gotPlain.map(([payload, position]) => [payload, position])).to.deep.equal(got.map(([payload]) => [payload, undefined]));

    const log = logged.log!;
    expect(await log.read('ch', { epoch, seq: 1 })).to.deep.equal({ epoch, head: 3, covered: true, entries: [{ seq: 2, payload: 'b' }, { seq: 3, payload: 'c' }] });
    expect(await log.read('ch', { epoch, seq: 3 })).to.deep.equal({ epoch, head: 3, covered: true, entries: [] });
    expect(await log.read('ch', undefined)).to.include({ head: 3, covered: false });
    expect(await log.read('ch', { epoch: 'other', seq: 1 })).to.include({ covered: false });
    await plain.publish('ch', ['d']);
    expect(await log.read('ch', { epoch, seq: 0 }), 'trimmed to 3 entries: seq 1 is gone').to.deep.equal({ epoch, head: 4, covered: false, entries: [] });
  });

  it('keeps its log while uninstalled and reinstalled alike; other bounds start a new one; reads fail while it is down', async () => {
    const uninstall = installClusterRelay({ log: true });
    const logged = transport({ log: true });
    const got = await heard(logged);
    await logged.publish('ch', ['a']);
    const epoch = got[0]?.[1]?.epoch;
    uninstall();
    expect(logged.status).to.equal('disconnected');
    expect((await rejectionOf(logged.log!.read('ch', undefined))).message).to.equal('cluster transport is disconnected');
    const again = installClusterRelay({ log: true });
    expect(logged.status).to.equal('connected');
    expect(await logged.log!.read('ch', { epoch: epoch!, seq: 0 })).to.deep.include({ epoch, head: 1, covered: true });
    again();
    relay({ log: { maxEntries: 10 } });
    expect((await logged.log!.read('ch', undefined)).epoch, 'a new log').not.to.equal(epoch);
  });

  it('a transport reading the log on a relay without one stays disconnected, and a warning says why', async () => {
    // Caught here rather than printed by the default handler.
    const emitWarning = sinon.stub(process, 'emitWarning');
    closers.push(() => emitWarning.restore());
    relay();
    const logged = transport({ log: true });
    expect(logged.status).to.equal('disconnected');
    expect((await rejectionOf(logged.publish('ch', ['a']))).message).to.equal('cluster transport is disconnected');
    expect((await rejectionOf(logged.log!.read('ch', undefined))).message).to.equal('cluster transport is disconnected');
    const plain = transport();
    expect(plain.status, 'one without the option is unaffected').to.equal('connected');
    const got = await heard(plain);
    await plain.publish('ch', ['a']);
    expect(got, 'a relay without the log sends no positions').to.deep.equal([['a', undefined]]);
    expect(emitWarning.args.map(([warning]) => warning)).to.deep.equal([
      'clusterTransport({ log: true }) is used, but the cluster relay keeps no log: install it with installClusterRelay({ log: true }) in the primary. Its caches stay degraded meanwhile',
    ]);
  });
});

describe('cluster transport with the relay log (real node:cluster primary and workers)', function () {
  this.timeout(30_000);
  const DEGRADED_TTL = 600;
  const MAX_ENTRIES = 5;
  let primary: ClusterPrimary | undefined;
  let from = 0;

  const drive = (): ClusterPrimary => {
    if (primary === undefined) throw new Error('the primary did not start');
    return primary;
  };
  const toWorker = (index: number, request: WorkerRequest): Promise<unknown> => drive().request({ op: 'worker', index, request });
  const lose = (index: number, what: Loss[]) => drive().request({ op: 'lose', index, what });
  /** The next push since the test began of worker `index` (or of the primary's cache) that matches. */
  async function pushFrom<P extends WorkerPush>(index: number | 'primary', matches: (push: WorkerPush) => push is P): Promise<P> {
    const found = await drive().waitFor((m) => {
      if (drive().pushes.indexOf(m, from) === -1) return false;
      if (m.type === 'primary') return index === 'primary' && matches(m.push);
      return m.type === 'worker' && m.index === index && matches(m.push);
    });
    return (found as unknown as { push: P }).push;
  }
  type Resynced = Extract<CachePush, { type: 'resynced' }>;
  const resynced = (push: WorkerPush): push is Resynced => push.type === 'resynced';
  const heardKey = (key: string) => (push: WorkerPush): push is CachePush => push.type === 'remote-invalidated' && push.key === key;
  const link = (state: string) => (push: WorkerPush): push is CachePush => push.type === 'link' && push.state === state;
  /** The resyncs worker `index` reported since the test began. */
  const resyncsSince = (index: number): Resynced[] =>
    drive()
      .pushes.slice(from)
      .flatMap((m) => (m.type === 'worker' && m.index === index && m.push.type === 'resynced' ? [m.push] : []));
  const has = async (index: number, keys: string[]) => Promise.all(keys.map(async (key) => [key, await toWorker(index, { op: 'has', key })]));
  /** Invalidates `keys` in worker 0 and waits until the relay sent them on (the primary's own cache heard the last). */
  async function invalidateIn0(keys: string[]): Promise<void> {
    for (const key of keys) await toWorker(0, { op: 'invalidate', key });
    await pushFrom('primary', heardKey(keys.at(-1)!));
  }
  async function fill(index: number, keys: string[]): Promise<void> {
    for (const key of keys) await toWorker(index, { op: 'set', key, value: 'v' });
  }

  before(async () => {
    ({ primary } = await startClusterPrimary(2, {
      ...process.env,
      COHERENT_CACHE_FIXTURE_CLUSTER_LOG: JSON.stringify({ maxEntries: MAX_ENTRIES }),
      COHERENT_CACHE_FIXTURE_DEGRADED_TTL: String(DEGRADED_TTL),
      COHERENT_CACHE_FIXTURE_READ_TIMEOUT: '200',
    }));
    await Promise.all([0, 1].map((index) => toWorker(index, { op: 'ready' })));
    await drive().request({ op: 'primary', request: { op: 'ready' } });
    // Each cache's first subscription reads where the log stands: a full resync of nothing.
    for (const index of [0, 1]) expect(await pushFrom(index, resynced)).to.include({ mode: 'full', cause: 'starting', dropped: 0 });
    expect(await pushFrom('primary', resynced)).to.include({ mode: 'full', cause: 'starting', dropped: 0 });
  });
  beforeEach(() => {
    from = drive().pushes.length;
  });
  after(() => stopClusterPrimary(primary));

  it('a message lost on the way while the link stays up: the next heartbeat shows the gap and the repair drops only its key', async () => {
    await fill(1, ['a1', 'a2', 'a3']);
    await lose(1, ['entries']);
    await invalidateIn0(['a1']);
    await lose(1, []);
    expect(await pushFrom(1, (p): p is CachePush => p.type === 'repair-started')).to.include({ reason: 'lost-message' });
    expect(await pushFrom(1, resynced)).to.include({ mode: 'exact', missed: 1, keys: 1, dropped: 1 });
    expect(await has(1, ['a1', 'a2', 'a3'])).to.deep.equal([['a1', false], ['a2', true], ['a3', true]]);
    expect(resyncsSince(0), 'the publisher missed nothing').to.deep.equal([]);
  });

  it('a worker whose link to the primary is interrupted past its lease repairs exactly once it is back', async () => {
    await fill(1, ['b1', 'b2', 'b3']);
    await lose(1, ['all']);
    expect(await pushFrom(1, link('degraded'))).to.include({ reason: 'lease-expired' });
    await invalidateIn0(['b1', 'b2']);
    await lose(1, []);
    await pushFrom(1, link('connected'));
    expect(await pushFrom(1, resynced)).to.include({ mode: 'exact', missed: 2, keys: 2 });
    expect(await has(1, ['b1', 'b2', 'b3'])).to.deep.equal([['b1', false], ['b2', false], ['b3', true]]);
    expect(resyncsSince(1).map((r) => r.mode)).to.deep.equal(['exact']);
  });

  it('a relay that does not answer its reads fails them after readTimeout; the lease lapses meanwhile, and the repair is exact once answered', async () => {
    await fill(1, ['d1', 'd2']);
    await lose(1, ['entries', 'answers']);
    await invalidateIn0(['d1']);
    await lose(1, ['answers']);
    expect(await pushFrom(1, (p): p is CachePush => p.type === 'repair-failed')).to.deep.equal({ type: 'repair-failed', errorName: 'LogReadTimeoutError' });
    expect(await pushFrom(1, link('degraded'))).to.include({ reason: 'lease-expired' });
    expect(await toWorker(1, { op: 'has', key: 'd1' }), 'not served past its lease').to.equal(false);
    await lose(1, []);
    expect(await pushFrom(1, resynced)).to.include({ mode: 'exact', missed: 1, keys: 1 });
    await pushFrom(1, link('connected'));
    // d2 is served again once a heartbeat renews the lease: the repair's lease counts from its first, failed attempt.
    expect(await toWorker(1, { op: 'has', key: 'd1' })).to.equal(false);
    expect(resyncsSince(1).map((r) => r.mode)).to.deep.equal(['exact']);
  });

  it(`a gap longer than the relay keeps (${MAX_ENTRIES} entries) falls back to a full resync`, async () => {
    await fill(1, ['c0']);
    // Its reads are not answered either: a heartbeat in the middle of the burst would repair a shorter gap exactly.
    await lose(1, ['entries', 'answers']);
    await invalidateIn0(['c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
    await lose(1, []);
    const full = await pushFrom(1, resynced);
    expect(full).to.include({ mode: 'full', cause: 'log-trimmed' });
    expect(full.dropped, 'everything it held').to.be.greaterThan(0);
    expect(await toWorker(1, { op: 'has', key: 'c0' })).to.equal(false);
  });

  it('hostile log messages are dropped: the primary and the workers stay up and coherent', async () => {
    const hostile: object[] = [
      { [CLUSTER_IPC_MARKER]: 1, read: -1, channel: CHANNEL, after: null },
      { [CLUSTER_IPC_MARKER]: 1, read: 'x', channel: CHANNEL },
      { [CLUSTER_IPC_MARKER]: 1, read: 1, channel: 5 },
      { [CLUSTER_IPC_MARKER]: 1, read: 1, channel: CHANNEL, after: { epoch: 3, seq: 1 } },
      { [CLUSTER_IPC_MARKER]: 1, read: 1, channel: CHANNEL, after: { epoch: 'e', seq: -1 } },
      { [CLUSTER_IPC_MARKER]: 1, read: 1, channel: CHANNEL, after: [] },
      { [CLUSTER_IPC_MARKER]: 1, answer: 1, log: { epoch: 'e' } },
      { [CLUSTER_IPC_MARKER]: 1, answer: 1, log: { epoch: 'e', head: 1, covered: true, entries: [{ seq: 'x' }] } },
      { [CLUSTER_IPC_MARKER]: 1, answer: 1, error: 42 },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: ['x'], publish: 'shout' },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: ['x'], at: 'start' },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: ['x'], at: { epoch: '', seq: 1, entry: true } },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: ['x'], at: { epoch: 'e', seq: 0, entry: true } },
      { [CLUSTER_IPC_MARKER]: 1, channel: CHANNEL, payloads: ['x'], at: { epoch: 'e', seq: 2 ** 53, entry: false } },
    ];
    for (const message of hostile) {
      await drive().request({ op: 'raw', index: 0, message });
      await toWorker(1, { op: 'send-to-primary', value: message });
    }
    await fill(0, ['h1', 'h2']);
    await toWorker(1, { op: 'invalidate', key: 'h1' });
    await pushFrom(0, heardKey('h1'));
    expect(await has(0, ['h1', 'h2'])).to.deep.equal([['h1', false], ['h2', true]]);
    const since = drive().pushes.slice(from);
    expect(since.filter((m) => m.type === 'exit' || (m.type === 'worker' && (m.push.type === 'rejected' || m.push.type === 'resynced')))).to.deep.equal([]);
  });
});
