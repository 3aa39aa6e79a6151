/**
 * The coherence contract, over random fleet histories. Several caches share a
 * bus the test drives (deliver in any interleaving across instances, delay for
 * any length of time, duplicate, drop, break and restore links, break only an
 * instance's publishing side); loaders read
 * a model source of truth and resolve in any order under fc.scheduler; time
 * moves under sinon's fake clock, heartbeats and all. The oracle is the
 * README's contract, for every read, whenever it began:
 *  1. a read that began after `invalidate` resolved on its instance never
 *     returns a value older than that write;
 *  2. a read on a peer that began after the write's message was delivered to
 *     it never does either;
 *  2b. with `ack: 'all'`, a read on a peer the write waited for that began
 *     after invalidate() resolved never does either;
 *  3. no read returns a value older than a write by more than `degradedTtl`
 *     from the moment that write's `invalidate()` resolved, connected or not,
 *     delivered or not: entries are served under leases, and the link's faults
 *     (a message held back, a link broken, a heartbeat lost) only shorten them.
 * Tags, namespaces and soft invalidation are writes too: `invalidateTag` of
 * a tag the keys' values carry, a namespace's `invalidateAll` (key `c` lives
 * in namespace `n`) and `expire`/`expireTag`. A soft write may leave the
 * old value served, but only to a read whose load may fail (staleIfError),
 * for at most staleIfError after the write reached the instance, and never
 * past degradedTtl + staleIfError after it resolved; a getSync whose loader
 * succeeds never sees it.
 * Each instance hears one channel in order (as one subscriber connection
 * does); what interleaves is which instance hears next. For every instance,
 * `replay(events)` equals its snapshot and `replayStats(events)` its stats.
 *
 * With a log (the bus numbers and keeps what is published, with a retention
 * small enough to be outrun), the bus can also lose a message while its link
 * stays up, deliver one out of order, and start its log again in a new epoch:
 * faults only the log can repair. The oracle does not change.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import { createCache, type Cache, type CacheEvent, type CacheEventType, type CacheView, type InvalidateOptions } from '../../src/index.ts';
import { ControlledBus, type ControlledEndpoint } from '../support/controlled-bus.ts';
import { expectReplayMatches } from '../support/replay.ts';

const KEYS = ['a', 'b', 'c'] as const;
/** The tags each key's values carry (as `{ tags }` on every read and fill). */
const TAGS_OF = { a: ['ab'], b: ['ab', 'b'], c: [] as string[] } as const;
const TAGS = ['ab', 'b'] as const;
/** Key `c` is `c` in namespace `n`: its full key is `n:c`. */
const NAMESPACED: Key = 'c';
/** Every event type but `hit`. */
const EVENT_TYPES: readonly Exclude<CacheEventType, 'hit'>[] = [
  'miss', 'load.started', 'load.joined', 'loaded', 'load.timedout', 'load.discarded', 'stale.served', 'stored', 'expired', 'evicted', 'invalidated', 'cleared',
  'link.changed', 'lease.renewed', 'peer.heard', 'peer.lost', 'message.rejected', 'message.received', 'published', 'publish.failed', 'publish.abandoned',
  'repair.started', 'repair.failed', 'resynced', 'log.advanced',
];
type Key = (typeof KEYS)[number];
const DEGRADED_TTL = 50;

type Step =
  | { kind: 'read'; node: number; key: Key; sync: boolean; fail: boolean }
  | { kind: 'write'; node: number; key: Key; ack: boolean }
  | { kind: 'writeAll'; node: number; ack: boolean }
  | { kind: 'writeTag'; node: number; tag: (typeof TAGS)[number]; soft: boolean }
  | { kind: 'expire'; node: number; key: Key }
  | { kind: 'writeNamespace'; node: number }
  | { kind: 'fill'; node: number; key: Key }
  | { kind: 'deliver'; pick: number }
  | { kind: 'duplicate'; pick: number }
  | { kind: 'drop'; pick: number }
  | { kind: 'break'; node: number }
  | { kind: 'restore'; node: number }
  | { kind: 'breakPublisher'; node: number }
  | { kind: 'restorePublisher'; node: number }
  | { kind: 'resolve' }
  | { kind: 'tick'; ms: number }
  | { kind: 'lose'; pick: number; all: boolean }
  | { kind: 'reorder'; pick: number }
  | { kind: 'resetLog' };

function steps(nodes: number, logged: boolean): fc.Arbitrary<Step[]> {
  const node = fc.nat({ max: nodes - 1 });
  const key = fc.constantFrom(...KEYS);
  const logFaults: fc.WeightedArbitrary<Step>[] = logged
    ? [
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('lose' as const), pick: fc.nat(), all: fc.boolean() }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('reorder' as const), pick: fc.nat() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('resetLog' as const) }) },
        // Values cached directly, and waits long enough for a lost write to outlive the bound: where a missed repair shows.
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('fill' as const), node, key }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 40, max: 80 }) }) },
      ]
    : [];
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('read' as const), node, key, sync: fc.boolean(), fail: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('write' as const), node, key, ack: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('writeAll' as const), node, ack: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('writeTag' as const), node, tag: fc.constantFrom(...TAGS), soft: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const), node, key }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('writeNamespace' as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('fill' as const), node, key }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('break' as const), node }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('restore' as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('breakPublisher' as const), node }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restorePublisher' as const), node }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('resolve' as const) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 40 }) }) },
    ...logFaults,
  );
  return fc.array(step, { minLength: 5, maxLength: 80, size: 'max' });
}

const fleetConfig = fc.record({
  ttl: fc.constantFrom(30, 1_000, 60_000),
  staleIfError: fc.constantFrom(0, 100),
  maxEntries: fc.constantFrom(2, 100),
  // Expired values served while a background load revalidates them, and hits that reload early: the bound still holds.
  staleWhileRevalidate: fc.constantFrom(0, 20, 100),
  refreshAhead: fc.constantFrom(0, 0.5),
});

type FleetConfig = { ttl: number; staleIfError: number; maxEntries: number; staleWhileRevalidate: number; refreshAhead: number };

/** A write whose invalidate() resolved: the versions below it are stale from then on (soft: see `atLeast`). */
interface Write {
  readonly key: Key;
  readonly version: number;
  readonly resolvedAt: number;
  readonly soft: boolean;
}

/** A soft write as one instance knows it: since `at` (delivered, or resolved on the writer). */
interface SoftFloor {
  readonly key: Key;
  readonly version: number;
  readonly at: number;
}

/** The keys a message names, by its op (a tag names the keys whose values carry it). */
function keysNamed(message: { op: string; keys?: string[]; tags?: string[]; prefixes?: string[] }): { keys: Key[]; soft: boolean } {
  const soft = message.op === 'expire' || message.op === 'expire-tag';
  if (message.op === 'clear') return { keys: [...KEYS], soft };
  if (message.op === 'del' || message.op === 'expire') return { keys: (message.keys as string[]).map((key) => (key === `n:${NAMESPACED}` ? NAMESPACED : (key as Key))), soft };
  if (message.op === 'prefix') return { keys: [NAMESPACED], soft };
  const tags = message.tags as string[];
  return { keys: KEYS.filter((key) => TAGS_OF[key].some((tag) => tags.includes(tag))), soft };
}

/** The cache or the namespace a key is read and written through, and the key there. */
function viewOf(cache: Cache<number>, key: Key): CacheView<number> {
  return key === NAMESPACED ? cache.namespace('n') : cache;
}

/** What one read may return at the least, fixed when it began (a failed read returns no value: `undefined`). */
interface ReadCheck {
  readonly label: string;
  readonly result: Promise<number | undefined>;
  readonly atLeast: number;
}

/** A retention small enough for a history to outrun it (a trimmed log falls back to a full resync). */
const RETENTION = { maxEntries: 6, maxAge: 3_600_000 };

class Fleet {
  readonly bus: ControlledBus;
  readonly caches: Cache<number>[] = [];
  readonly endpoints: ControlledEndpoint[] = [];
  readonly events: CacheEvent<number>[][] = [];
  /** The source of truth: the current version of each key. */
  readonly source = new Map<Key, number>(KEYS.map((key) => [key, 0]));
  /** Per instance: the newest version of each key it must not read below (its own acknowledged writes, delivered messages). */
  readonly floor: Map<Key, number>[] = [];
  /** Per instance: the version of each key when it last invalidated it (what its messages carry). */
  readonly invalidatedAt: Map<Key, number>[] = [];
  /** Per instance: soft writes it knows of. */
  readonly softFloors: SoftFloor[][] = [];
  /** The versions a message carries, by payload object identity of its send. */
  readonly carried = new Map<string, { versions: Map<Key, number>; soft: boolean }[]>();
  readonly writes: Write[] = [];
  readonly reads: ReadCheck[] = [];
  /** invalidate() calls not yet resolved or rejected. */
  readonly pendingWrites = new Set<Promise<void>>();

  /** The caches' options (the oracle reads staleIfError). */
  private readonly config: FleetConfig;

  constructor(
    nodes: number,
    { refreshAhead, ...options }: FleetConfig,
    private readonly scheduler: fc.Scheduler,
    logged: boolean,
  ) {
    this.config = { refreshAhead, ...options };
    this.bus = new ControlledBus(logged ? { log: RETENTION } : {});
    this.bus.onPublish = (from, _channel, payload) => {
      // What this payload tells a recipient: the publisher's versions of the keys it names (all keys for a clear).
      const message = JSON.parse(payload) as { op: string; keys?: string[]; tags?: string[]; prefixes?: string[] };
      if (message.op === 'beat' || message.op === 'ack') return;
      const versions = new Map<Key, number>();
      const mine = this.invalidatedAt[from.index] as Map<Key, number>;
      const named = keysNamed(message);
      for (const key of named.keys) versions.set(key, mine.get(key) ?? 0);
      const queue = this.carried.get(payload) ?? [];
      queue.push({ versions, soft: named.soft });
      this.carried.set(payload, queue);
    };
    for (let i = 0; i < nodes; i++) {
      const endpoint = this.bus.endpoint();
      const ahead = refreshAhead === 0 ? {} : { refreshAhead };
      const cache = createCache<number>({ name: 'fleet', transport: endpoint, degradedTtl: DEGRADED_TTL, retryInterval: 20, metrics: false, tracing: false, ...options, ...ahead });
      const events: CacheEvent<number>[] = [];
      // Instance 0 reads through the hit fast path (nobody listens to its hits); the others through decide.
      if (i === 0) for (const type of EVENT_TYPES) cache.on(type, (event) => events.push(event));
      else cache.subscribe((event) => events.push(event));
      this.endpoints.push(endpoint);
      this.caches.push(cache);
      this.events.push(events);
      this.floor.push(new Map());
      this.softFloors.push([]);
      this.invalidatedAt.push(new Map());
    }
  }

  /** A loader reads the source when it is called; its answer (or its failure) arrives when the scheduler says. */
  loader(key: Key, fail: boolean): () => Promise<number> {
    return () =>
      this.scheduler.schedule(Promise.resolve(this.source.get(key) as number), `load ${key}`).then((version) => {
        if (fail) throw new Error('source down');
        return version;
      });
  }

  /**
   * The oldest version a read of `key` on `node` beginning now may return.
   * `strict`: a read that cannot be answered stale (a getSync whose loader
   * succeeds), for which a soft write counts like a hard one.
   */
  atLeast(node: number, key: Key, strict: boolean): number {
    let least = this.floor[node]?.get(key) ?? 0;
    const now = Date.now();
    const { staleIfError } = this.config;
    for (const write of this.writes) {
      if (write.key === key && now - write.resolvedAt > DEGRADED_TTL + (write.soft && !strict ? staleIfError : 0)) least = Math.max(least, write.version);
    }
    for (const soft of this.softFloors[node] ?? []) if (soft.key === key && (strict || now - soft.at >= staleIfError)) least = Math.max(least, soft.version);
    return least;
  }

  /**
   * Starts invalidating on `node` (the keys' versions already bumped) by
   * `call`; the write counts from the moment it resolves. With `ack: 'all'`,
   * its resolution also means every peer it waited for (those the writer knew
   * at the call) dropped the keys: reads beginning there afterwards are
   * checked against it too.
   */
  invalidate(node: number, versions: readonly (readonly [Key, number])[], call: (cache: Cache<number>, options: InvalidateOptions | undefined) => Promise<void>, soft: boolean, ack: boolean): void {
    const writer = this.caches[node] as Cache<number>;
    const options = ack ? { ack: 'all' as const } : undefined;
    const waitedFor = ack ? writer.peers().map((peer) => this.caches.findIndex((cache) => cache.instanceId === peer.instance)) : [];
    const acked = call(writer, options);
    this.pendingWrites.add(acked);
    acked.then(
      () => {
        for (const [key, version] of versions) {
          this.writes.push({ key, version, resolvedAt: Date.now(), soft });
          if (soft) {
            this.softFloors[node]?.push({ key, version, at: Date.now() });
            continue;
          }
          this.raiseFloor(node, key, version);
          for (const peer of waitedFor) this.raiseFloor(peer, key, version);
        }
      },
      // Not acknowledged (InvalidationTimeoutError): the contract promises nothing for it, and it is still sent when it can be.
      () => undefined,
    ).finally(() => this.pendingWrites.delete(acked));
  }

  raiseFloor(node: number, key: Key, version: number): void {
    const floor = this.floor[node] as Map<Key, number>;
    floor.set(key, Math.max(floor.get(key) ?? 0, version));
  }

  deliver(pick: number, outOfOrder = false): void {
    const message = outOfOrder ? this.bus.inFlight[pick % Math.max(1, this.bus.inFlight.length)] : this.bus.next(pick);
    if (message === undefined) return;
    const carried = this.carried.get(message.payload)?.[0];
    if (outOfOrder) this.bus.deliverOutOfOrder(pick);
    else this.bus.deliver(pick);
    if (message.to === message.from || carried === undefined) return;
    for (const [key, version] of carried.versions) {
      if (carried.soft) this.softFloors[message.to.index]?.push({ key, version, at: Date.now() });
      else this.raiseFloor(message.to.index, key, version);
    }
  }

}

/** Lets queued promise jobs (coalescing, acknowledgements) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Resyncs by mode over every history of a run, to show that the log's exact repair is exercised. */
const resyncs = { exact: 0, full: 0 };

async function runFleet(nodes: number, config: FleetConfig, history: Step[], s: fc.Scheduler, logged: boolean): Promise<void> {
  const clock = sinon.useFakeTimers({ now: 1_000 });
  try {
    const fleet = new Fleet(nodes, config, s, logged);
    await Promise.all(fleet.caches.map((cache) => cache.ready()));
    let stepNumber = 0;
    for (const step of history) {
      stepNumber++;
      switch (step.kind) {
        case 'read': {
          const cache = viewOf(fleet.caches[step.node] as Cache<number>, step.key);
          const atLeast = fleet.atLeast(step.node, step.key, step.sync && !step.fail);
          const label = `step ${stepNumber}: ${step.sync ? 'getSync' : 'get'}(${step.key}) on ${step.node}`;
          const tags = { tags: TAGS_OF[step.key] };
          if (step.sync) {
            // A synchronous loader reads the source at once.
            let value: number | undefined;
            try {
              value = cache.getSync(
                step.key,
                () => {
                  if (step.fail) throw new Error('source down');
                  return fleet.source.get(step.key) as number;
                },
                tags,
              );
            } catch {
              value = undefined;
            }
            fleet.reads.push({ label, result: Promise.resolve(value), atLeast });
          } else {
            const result = cache.get(step.key, fleet.loader(step.key, step.fail), tags).catch(() => undefined);
            fleet.reads.push({ label, result, atLeast });
          }
          break;
        }
        case 'write':
        case 'writeAll':
        case 'writeTag':
        case 'expire':
        case 'writeNamespace': {
          const keys: readonly Key[] =
            step.kind === 'write' || step.kind === 'expire'
              ? [step.key]
              : step.kind === 'writeTag'
                ? KEYS.filter((key) => (TAGS_OF[key] as readonly string[]).includes(step.tag))
                : step.kind === 'writeNamespace'
                  ? [NAMESPACED]
                  : KEYS;
          const versions = keys.map((key) => [key, (fleet.source.get(key) as number) + 1] as const);
          for (const [key, version] of versions) {
            fleet.source.set(key, version);
            fleet.invalidatedAt[step.node]?.set(key, version);
          }
          const call = (cache: Cache<number>, options: InvalidateOptions | undefined): Promise<void> => {
            switch (step.kind) {
              case 'write':
                return viewOf(cache, step.key).invalidate(step.key, options);
              case 'expire':
                return viewOf(cache, step.key).expire(step.key);
              case 'writeTag':
                return step.soft ? cache.expireTag(step.tag) : cache.invalidateTag(step.tag);
              case 'writeNamespace':
                return cache.namespace('n').invalidateAll();
              default:
                return cache.invalidateAll(options);
            }
          };
          const ack = (step.kind === 'write' || step.kind === 'writeAll') && step.ack;
          fleet.invalidate(step.node, versions, call, step.kind === 'expire' || (step.kind === 'writeTag' && step.soft), ack);
          // Let the coalesced publish go out (its acknowledgement, when the link is up, follows at once).
          await settle();
          break;
        }
        case 'fill':
          viewOf(fleet.caches[step.node] as Cache<number>, step.key).set(step.key, fleet.source.get(step.key) as number, { tags: TAGS_OF[step.key] });
          break;
        case 'deliver':
          fleet.deliver(step.pick);
          break;
        case 'duplicate':
          fleet.bus.duplicate(step.pick);
          break;
        case 'drop':
          fleet.bus.drop(step.pick);
          break;
        case 'break':
          fleet.endpoints[step.node]?.break();
          break;
        case 'restore':
          fleet.endpoints[step.node]?.restore();
          break;
        case 'breakPublisher':
          fleet.endpoints[step.node]?.breakPublisher();
          break;
        case 'restorePublisher':
          fleet.endpoints[step.node]?.restorePublisher();
          break;
        case 'resolve':
          if (s.count() > 0) await s.waitOne();
          break;
        case 'tick':
          await clock.tickAsync(step.ms);
          break;
        case 'lose':
          fleet.bus.loseQuietly(step.pick, step.all);
          break;
        case 'reorder':
          fleet.deliver(step.pick, true);
          break;
        case 'resetLog':
          fleet.bus.resetLogs();
          break;
      }
    }
    // Let every load, message and invalidation finish (links restored), then judge every read.
    for (const endpoint of fleet.endpoints) {
      endpoint.restore();
      endpoint.restorePublisher();
    }
    for (let round = 0; round < 1_000 && (s.count() > 0 || fleet.bus.inFlight.length > 0 || fleet.pendingWrites.size > 0); round++) {
      if (s.count() > 0) await s.waitOne();
      else if (fleet.bus.inFlight.length > 0) fleet.bus.deliverAll();
      else await clock.tickAsync(10);
      await settle();
    }
    for (const read of fleet.reads) {
      const value = await read.result;
      if (value === undefined) continue;
      expect(value, `${read.label} returned version ${value}, older than version ${read.atLeast} it follows`).to.be.at.least(read.atLeast);
    }
    for (const cache of fleet.caches) {
      resyncs.exact += cache.stats().resynced.exact;
      resyncs.full += cache.stats().resynced.full;
    }
    for (const [i, cache] of fleet.caches.entries()) {
      // Instance 0's hits were folded without events: its history does not replay to the same recency order.
      if (i === 0) continue;
      expectReplayMatches(cache, fleet.events[i] as CacheEvent<number>[], `instance ${i}`);
    }
    // Links are up again: close() delivers whatever is still queued (its retries run on the fake clock).
    const closed = Promise.all(fleet.caches.map((cache) => cache.close()));
    await clock.tickAsync(100);
    await closed;
  } finally {
    clock.restore();
  }
}

describe('coherence contract over a fleet (property)', function () {
  this.timeout(120_000);

  for (const logged of [false, true]) {
    it(`holds for random fleets, faults, load orders and time${logged ? ', with a log repairing lost, duplicated and reordered messages' : ''}`, async () => {
      resyncs.exact = resyncs.full = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 2, max: 3 }).chain((nodes) => fc.tuple(fc.constant(nodes), steps(nodes, logged))),
          fleetConfig,
          fc.scheduler(),
          ([nodes, history], config, s) => runFleet(nodes, config, history, s, logged),
        ),
        // FLEET_RUNS=20000 for a longer search; 1000 histories take about 3 s. The log's faults need a longer search
        // to hit (a lost write to a key cached elsewhere, then a read past the bound): 3000 find a missing repair.
        { numRuns: Number(process.env.FLEET_RUNS ?? 1000) * (logged ? 3 : 1) },
      );
      if (logged) expect(resyncs.exact, 'the histories exercised exact repairs').to.be.greaterThan(0);
      else expect(resyncs.exact, 'no exact repair without a log').to.equal(0);
    });
  }
});
