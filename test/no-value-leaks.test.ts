/**
 * Values never leave the process: a secret planted as cache values and inside
 * loader errors is driven through every path (hits, misses, loads ok / error /
 * timeout, stale-if-error, set, local and remote invalidations, a resync,
 * rejected messages, evictions, a throwing listener) with the OpenTelemetry
 * SDK on in-memory exporters, the prom-client bridge, the event recorder and
 * every log channel captured; then each of them is searched for the secret.
 * Keys may be in the recorder (that is what it is for) but never in a metric
 * label, nor in a span unless the caller opts in.
 */
import { context, diag, DiagLogLevel, trace, type DiagLogger } from '@opentelemetry/api';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import sinon from 'sinon';
import { createCache, MemoryBus, otelTracing, traceReads, type Cache, type CacheEvent } from '../src/index.ts';
import { registerPrometheus } from '../src/telemetry/prometheus.ts';
import { allLabelValues, parseUnchecked } from './support/exposition.ts';
import { testMeterProvider, testTracerProvider } from './support/otel.ts';
import { rejectionOf } from './support/rejection.ts';
import { waitForEvent } from './support/wait-for-event.ts';

const SECRET = 's3cr3t-VALUE-4242';
const KEYS = {
  hit: 'key-hit-7001',
  sync: 'key-sync-7002',
  expired: 'key-expired-7003',
  error: 'key-error-7004',
  thrownString: 'key-string-7005',
  syncError: 'key-syncerror-7006',
  timeout: 'key-timeout-7007',
  stale: 'key-stale-7008',
  staleTimeout: 'key-staletimeout-7009',
  set: 'key-set-7010',
  remote: 'key-remote-7011',
  queued: 'key-queued-7012',
  evict: ['key-evict-7013', 'key-evict-7014', 'key-evict-7015', 'key-evict-7016', 'key-evict-7017'],
} as const;
const ALL_KEYS: readonly string[] = Object.values(KEYS).flat();

/** Text of anything a log call received, errors with their message, cause and stack. */
function describeArgs(args: readonly unknown[]): string {
  return args
    .map((arg) => {
      if (arg instanceof Error) return `${arg.name}: ${arg.message} ${String(arg.stack)} ${JSON.stringify(arg.cause ?? null)}`;
      if (typeof arg === 'string') return arg;
      try {
        return JSON.stringify(arg);
      } catch {
        return String(arg);
      }
    })
    .join(' ');
}

describe('no value leaks into telemetry, events or logs', () => {
  let clock: sinon.SinonFakeTimers;
  const logs: string[] = [];
  beforeEach(() => {
    logs.length = 0;
    clock = sinon.useFakeTimers({ now: 1_000_000, toNotFake: ['queueMicrotask', 'nextTick'] });
    sinon.stub(process, 'emitWarning').callsFake((...args: unknown[]) => logs.push(`emitWarning ${describeArgs(args)}`));
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      sinon.stub(console, method).callsFake((...args: unknown[]) => logs.push(`console.${method} ${describeArgs(args)}`));
    }
    const capture =
      (level: string) =>
      (...args: unknown[]): void => {
        logs.push(`diag.${level} ${describeArgs(args)}`);
      };
    const logger: DiagLogger = { error: capture('error'), warn: capture('warn'), info: capture('info'), debug: capture('debug'), verbose: capture('verbose') };
    diag.setLogger(logger, DiagLogLevel.ALL);
  });
  afterEach(() => {
    diag.disable();
    sinon.restore();
    clock.restore();
  });

  it('drives every path, then finds the secret nowhere and no key as a metric label', async () => {
    const { meterProvider, reader } = testMeterProvider();
    const peerMetrics = testMeterProvider();
    const { tracerProvider, exporter } = testTracerProvider();
    const tracing = otelTracing({ tracerProvider });
    const registry = new Registry();
    const bus = new MemoryBus();
    const link = bus.transport();
    const options = { name: 'vault', ttl: 100, staleIfError: 10_000, loadTimeout: 50, maxEntries: 4, tracing } as const;
    const cache: Cache<string> = createCache<string>({ ...options, transport: link, metrics: { meterProvider } });
    const peer: Cache<string> = createCache<string>({ ...options, transport: bus.transport(), metrics: { meterProvider: peerMetrics.meterProvider } });
    await Promise.all([cache.ready(), peer.ready()]);
    const unregister = [registerPrometheus(cache, { registry }), registerPrometheus(peer, { registry: new Registry() })];
    // A listener whose error message carries the secret: the cache warns about it.
    cache.on('stored', () => {
      throw new Error(`listener saw ${SECRET}`);
    });
    const stopReads = traceReads(cache);
    const secretValue = (suffix: string) => `${SECRET}:${suffix}`;
    const requestSpan = tracerProvider.getTracer('app').startSpan('request');

    // Reads run inside the request span, so hits and misses become its events.
    await context.with(trace.setSpan(context.active(), requestSpan), async () => {

      // Hits, misses, ok loads (async and sync).
      expect(await cache.get(KEYS.hit, () => secretValue('hit'))).to.equal(secretValue('hit'));
      expect(await cache.get(KEYS.hit, () => 'unused')).to.equal(secretValue('hit'));
      expect(cache.getSync(KEYS.sync, () => secretValue('sync'))).to.equal(secretValue('sync'));
      // An expired entry (still inside its stale window) reloaded.
      cache.set(KEYS.expired, secretValue('old'), { ttl: 10 });
      await clock.tickAsync(20);
      expect(await cache.get(KEYS.expired, () => secretValue('new'))).to.equal(secretValue('new'));
      // Failing loads: an Error quoting the secret (with it as cause too), a thrown string, a synchronous TypeError.
      const failure = await rejectionOf(cache.get(KEYS.error, () => Promise.reject(new Error(`upstream answered ${SECRET}`, { cause: SECRET }))));
      expect(failure.message).to.include(SECRET);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- loaders may reject with anything: that path is under test.
      const thrown = await cache.get(KEYS.thrownString, () => Promise.reject<string>(SECRET)).then(
        () => 'resolved',
        (reason: unknown) => reason,
      );
      expect(thrown).to.equal(SECRET);
      expect(() =>
        cache.getSync(KEYS.syncError, () => {
          throw new TypeError(SECRET);
        }),
      ).to.throw(SECRET);
      // A timeout, whose loader later settles with the secret.
      const timedOut = rejectionOf(cache.get(KEYS.timeout, () => new Promise<string>((resolve) => setTimeout(() => resolve(secretValue('late')), 200))));
      await clock.tickAsync(50);
      expect((await timedOut).name).to.equal('LoadTimeoutError');
      await clock.tickAsync(150);
      // Stale-if-error: the expired secret served after an error, and after a timeout.
      cache.set(KEYS.stale, secretValue('stale'), { ttl: 10 });
      cache.set(KEYS.staleTimeout, secretValue('stale2'), { ttl: 10 });
      await clock.tickAsync(20);
      expect(await cache.get(KEYS.stale, () => Promise.reject(new Error(SECRET)))).to.equal(secretValue('stale'));
      const staleAfterTimeout = cache.get(KEYS.staleTimeout, () => new Promise<string>(() => undefined));
      await clock.tickAsync(50);
      expect(await staleAfterTimeout).to.equal(secretValue('stale2'));
      // Past its ttl and stale window, an entry is dropped as expired.
      await clock.tickAsync(10_100);
      expect(await cache.get(KEYS.expired, () => secretValue('newer'))).to.equal(secretValue('newer'));
    });
    requestSpan.end();

    // Set, local invalidations (published), remote ones.
    cache.set(KEYS.set, secretValue('set'));
    peer.set(KEYS.set, secretValue('set'));
    const peerHeard = waitForEvent(peer, 'the invalidation on the peer', (e: CacheEvent<string>) => e.type === 'invalidated' && e.origin === 'remote');
    await cache.invalidate(KEYS.set);
    await peerHeard;
    const heard = waitForEvent(cache, 'a remote invalidation', (e: CacheEvent<string>) => e.type === 'invalidated' && e.origin === 'remote');
    await peer.invalidate(KEYS.remote);
    await heard;
    const heardAll = waitForEvent(peer, 'a remote clear', (e: CacheEvent<string>) => e.type === 'invalidated' && e.origin === 'remote' && e.scope === 'all');
    await cache.invalidateAll();
    await heardAll;
    // A lost link: a failed publish queued, a value stored meanwhile; back: a resync and the queued key sent.
    link.disconnect();
    const failedOnce = waitForEvent(cache, 'the failed publish', (e) => e.type === 'publish.failed');
    const queued = cache.invalidate(KEYS.queued);
    await failedOnce;
    cache.set(KEYS.queued, secretValue('degraded'));
    const resynced = waitForEvent(cache, 'a resync', (e) => e.type === 'invalidated' && e.reason === 'resync');
    const republished = waitForEvent(cache, 'the queued key published', (e) => e.type === 'published');
    link.reconnect();
    await Promise.all([resynced, republished, queued]);
    // Rejected messages.
    const rejections = waitForEvent(cache, 'the last rejected message', (e) => e.type === 'message.rejected' && e.reason === 'other-cache');
    await bus.transport().publish('coherent-cache:vault', ['not json', '{"v":1}', JSON.stringify({ v: 1, cache: 'elsewhere', origin: 'x', sentAt: 1, op: 'clear' })]);
    await rejections;
    // Evictions.
    for (const key of KEYS.evict) cache.set(key, secretValue(key));
    cache.clear();

    const stats = cache.stats();
    expect(stats.evicted.capacity).to.be.greaterThan(0);
    expect(stats.resynced).to.deep.equal({ exact: 0, full: 1 });
    expect(stats.loadServedStale).to.equal(2);
    expect(stats.loads.timeout).to.equal(2);
    expect(stats.messageRejected['not-json'] + stats.messageRejected['bad-shape'] + stats.messageRejected['other-cache']).to.equal(3);

    // Everything that leaves the cache, as text.
    const promText = await registry.metrics();
    const collected = [await reader.collect(), await peerMetrics.reader.collect()];
    const otelMetrics = JSON.stringify(collected.map((c) => c.resourceMetrics.scopeMetrics));
    const spans = exporter.getFinishedSpans();
    const spanText = JSON.stringify(spans.map((s) => ({ name: s.name, kind: s.kind, attributes: s.attributes, events: s.events, status: s.status, links: s.links })));
    const recent = JSON.stringify([cache.recentEvents(), peer.recentEvents()]);
    const statsText = JSON.stringify([stats, peer.stats()]);
    const logText = logs.join('\n');

    // The paths were really driven (so the scan below means something).
    expect(promText).to.include('coherent_cache_load_duration_bucket');
    expect(otelMetrics).to.include('coherent_cache.loads').and.to.include('coherent_cache.propagation.lag');
    expect(spans.map((s) => s.name)).to.include.members(['coherent_cache.load', 'publish coherent-cache:vault', 'process coherent-cache:vault', 'request']);
    const failedAs = (name: string) => spans.filter((s) => s.name === name && s.attributes['error.type'] !== undefined).map((s) => s.attributes['error.type']);
    expect(failedAs('publish coherent-cache:vault')).to.deep.equal(['Error']);
    expect(failedAs('coherent_cache.load').sort()).to.deep.equal([
      'Error',
      'Error',
      'LoadTimeoutError',
      'LoadTimeoutError',
      'TypeError',
      'string',
    ]);
    expect(spans.find((s) => s.name === 'request')?.events.map((e) => e.name)).to.include.members(['coherent_cache.hit', 'coherent_cache.miss']);
    for (const type of ['loaded', 'load.timedout', 'stored', 'evicted', 'expired', 'message.rejected', 'published', 'publish.failed', 'link.changed', 'cleared']) {
      expect(recent, type).to.include(`"type":"${type}"`);
    }
    expect(logText).to.include('a listener threw (Error)');

    for (const [what, text] of Object.entries({ promText, otelMetrics, spanText, recent, statsText, logText })) {
      expect(text.includes(SECRET), `${what} contains the secret`).to.equal(false);
    }

    // Keys: never a metric label, nor anywhere in spans (recordKeys is off) or metric output.
    const promLabels = allLabelValues(await parseUnchecked(promText));
    const otelLabels = collected.flatMap((c) => c.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => m.dataPoints.flatMap((p) => Object.values(p.attributes)))));
    expect(promLabels).to.include('vault');
    expect(otelLabels).to.include('vault');
    for (const key of ALL_KEYS) {
      expect(promLabels, key).not.to.include(key);
      expect(otelLabels, key).not.to.include(key);
      for (const [what, text] of Object.entries({ promText, otelMetrics, spanText })) expect(text.includes(key), `${key} in ${what}`).to.equal(false);
    }
    // The recorder is the one place keys are kept (for diagnosis), values redacted.
    expect(recent).to.include(KEYS.hit);

    stopReads();
    for (const stop of unregister) stop();
    await Promise.all([cache.close(), peer.close()]);
  });
});
