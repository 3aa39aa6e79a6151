/**
 * One worker of the demo service: a config cache in front of the primary's slow
 * store, served over HTTP on its own loopback port.
 *
 *   GET /config/:id   read through the cache; `x-cache: hit | miss | joined`
 *   PUT /config/:id   write to the store, then `await cache.invalidate(id, { ack: 'all' })`; answers the new version
 *   GET /metrics      Prometheus text (prom-client Registry fed by registerPrometheus)
 *   GET /stats        cache.stats() and the propagation-lag samples of received invalidations
 *
 * Invalidations travel through the cluster IPC transport (relayed by the
 * primary) or through Redis pub/sub when REDIS_URL is set. The primary
 * coordinates shutdown: Ctrl-C reaches the whole process group, so a worker
 * ignores SIGINT and stops when the primary tells it to (or when the primary's
 * IPC channel goes away, which node:cluster turns into an exit).
 */
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { AckTimeoutError, clusterTransport, createCache, InvalidationTimeoutError, redisTransport, type CacheStats, type RemoteSource, type Transport } from '../src/index.ts';
import { registerPrometheus } from '../src/prometheus.ts';
import { DEGRADED_TTL_MS } from './args.ts';
import { errorMessage } from './error-message.ts';
import { watchExit } from './exit-watchdog.ts';
import { DEMO_TAG, isPrimaryMessage, type ConfigRecord, type WorkerMessage } from './ipc.ts';
import { StoreClient } from './store.ts';
import { wallNow } from './wall-clock.ts';

/** What GET /stats answers. */
export interface WorkerStatsBody {
  readonly worker: number;
  readonly pid: number;
  readonly transport: string;
  readonly stats: CacheStats;
  readonly lag: { readonly samples: number; readonly recentMs: readonly number[] };
  /** Keys of the coherence violations verification found here (keys allowed: they are the demo's own ids). */
  readonly violations: readonly string[];
  /** Keys whose write here skipped its invalidation on purpose (--lose). */
  readonly lostKeys: readonly string[];
}

/** What GET /config/:id and PUT /config/:id answer. */
export interface ConfigBody {
  readonly id: string;
  readonly version: number;
  readonly worker: number;
}
export interface ReadBody extends ConfigBody {
  /** wallNow() before cache.get() was called, and once it answered. */
  readonly startedAt: number;
  readonly servedAt: number;
}
/** 200 once invalidate() resolved; 202 when it rejected with InvalidationTimeoutError (written, not acknowledged). */
export interface WriteBody extends ConfigBody {
  readonly acknowledged: boolean;
  /** wallNow() when invalidate() resolved (or rejected). */
  readonly ackAt: number;
  readonly invalidateMs: number;
}

const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const LAG_SAMPLES = 4_096;
const workerId = cluster.worker?.id ?? 0;

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

// The primary coordinates the shutdown (it also receives Ctrl-C).
process.on('SIGINT', () => undefined);

let stopRequested = false;
let serving = false;
let stop: (() => Promise<void>) | undefined;
process.on('message', (message: unknown) => {
  if (!isPrimaryMessage(message) || message.kind !== 'shutdown') return;
  stopRequested = true;
  // While still starting, main() stops once it is up.
  if (serving) void stop?.();
});

async function main(): Promise<void> {
  const redisUrl = process.env['REDIS_URL'];
  // With the log, a worker whose subscriber is lost reloads only the keys invalidated meanwhile, not all of them.
  const transport: Transport = redisUrl === undefined || redisUrl === '' ? clusterTransport({ log: true }) : redisTransport({ url: redisUrl, log: true });
  // --lose n: every n-th write of this worker skips its invalidation and answers as if it was acknowledged (a
  // planted bug no log can repair: nothing was ever sent). Only verification, and the checker, can see it.
  const lose = Number(process.env['DEMO_LOSE'] ?? 0);
  let writes = 0;
  const store = new StoreClient();
  const degradedTtl = Number(process.env['DEMO_DEGRADED_TTL'] ?? DEGRADED_TTL_MS);
  const sampleRate = Number(process.env['DEMO_VERIFY'] ?? 0);
  const cache = createCache<ConfigRecord | null>({
    name: 'config',
    ttl: 30_000,
    degradedTtl,
    loadTimeout: 2_000,
    transport,
    ...(sampleRate > 0 ? { verify: { sampleRate, allowKeys: true } } : {}),
  });
  const violations = new Set<string>();
  const lostKeys = new Set<string>();
  cache.on('coherence.violation', (event) => violations.add(event.key));
  const registry = new Registry();
  const unregisterPrometheus = registerPrometheus(cache, { registry });

  // Propagation lag: publisher's send to our drop, once per received message
  // (the events of one message share their `remote` object).
  const lags = new Float64Array(LAG_SAMPLES);
  let lagCount = 0;
  let lastRemote: RemoteSource | undefined;
  cache.on('invalidated', (event) => {
    const remote = event.remote;
    if (remote?.sentAt === undefined || remote === lastRemote) return;
    lastRemote = remote;
    lags[lagCount % LAG_SAMPLES] = Math.max(0, event.at - remote.sentAt);
    lagCount++;
  });
  const recentLags = (): number[] => Array.from(lags.subarray(0, Math.min(lagCount, LAG_SAMPLES)));

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/config\/([^/]+)$/.exec(url.pathname);
    if (match !== null) {
      const id = decodeURIComponent(match[1] as string);
      if (!ID_PATTERN.test(id)) return json(res, 400, { error: 'bad id' });
      if (req.method === 'GET') return readConfig(id, res);
      if (req.method === 'PUT') return writeConfig(id, await body(req), res);
      return json(res, 405, { error: 'method not allowed' });
    }
    if (req.method === 'GET' && url.pathname === '/metrics') {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/stats') {
      const stats: WorkerStatsBody = { worker: workerId, pid: process.pid, transport: transport.kind, stats: cache.stats(), lag: { samples: lagCount, recentMs: recentLags() }, violations: [...violations], lostKeys: [...lostKeys] };
      return json(res, 200, stats);
    }
    return json(res, 404, { error: 'not found' });
  }

  async function readConfig(id: string, res: http.ServerResponse): Promise<void> {
    // has() counts nothing; checked in the same tick as get(), it says whether get() will hit.
    const startedAt = wallNow();
    const hit = cache.has(id);
    let loaded = false;
    const record = await cache.get(id, () => {
      loaded = true;
      return store.read(id);
    });
    const servedAt = wallNow();
    const how = hit ? 'hit' : loaded ? 'miss' : 'joined';
    if (record === null) return json(res, 404, { error: 'no such config', id }, { 'x-cache': how });
    const answer: ReadBody = { id, version: record.version, worker: workerId, startedAt, servedAt };
    json(res, 200, answer, { 'x-cache': how });
  }

  async function writeConfig(id: string, raw: string, res: http.ServerResponse): Promise<void> {
    let value = raw;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { value?: unknown }).value === 'string') value = (parsed as { value: string }).value;
    } catch {
      // A plain-text body is the value itself.
    }
    const record = await store.write(id, value);
    const started = performance.now();
    let acknowledged = true;
    try {
      // Acknowledged by every live worker: once this resolves, none serves the old version.
      if (lose === 0 || ++writes % lose !== 0) await cache.invalidate(id, { ack: 'all' });
      else lostKeys.add(id);
    } catch (error) {
      // Written, but not acknowledged in time (the transport, or a worker): the contract promises nothing for it.
      if (!(error instanceof InvalidationTimeoutError) && !(error instanceof AckTimeoutError)) throw error;
      acknowledged = false;
    }
    const answer: WriteBody = { id, version: record.version, worker: workerId, acknowledged, ackAt: wallNow(), invalidateMs: performance.now() - started };
    json(res, acknowledged ? 200 : 202, answer);
  }

  let stopping: Promise<void> | undefined;
  stop = () => {
    stopping ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      unregisterPrometheus();
      await cache.close();
      await transport.close();
      store.close();
      // Nothing of ours is left: with the IPC channel gone the process must exit by itself.
      // If it does not, say what still holds it (this timer does not keep it alive).
      watchExit(3_000, (heldBy) => process.stderr.write(`worker ${workerId}: still running 3 s after shutdown, held by ${heldBy}\n`));
      cluster.worker?.disconnect();
    })();
    return stopping;
  };

  try {
    await withTimeout(cache.ready(), 10_000, 'the transport did not connect');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // exclusive: this worker's own port, not a handle shared through the primary.
      server.listen({ host: process.env['DEMO_HOST'] ?? '127.0.0.1', port: Number(process.env['DEMO_PORT'] ?? 0), exclusive: true }, () => resolve());
    });
  } catch (error) {
    send({ tag: DEMO_TAG, kind: 'failed', error: errorMessage(error) });
    await stop();
    return;
  }
  serving = true;
  if (stopRequested) return stop();
  send({ tag: DEMO_TAG, kind: 'ready', port: (server.address() as AddressInfo).port, transport: transport.kind });
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'x-worker': String(workerId), ...headers });
  res.end(text);
}

function body(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 4_096) {
        reject(new Error('body too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

if (cluster.isPrimary) {
  process.stderr.write('demo/worker.ts runs as a node:cluster worker; start demo/main.ts instead\n');
  process.exitCode = 2;
} else {
  await main();
}
