// Proves the integration-test harness works, and that it can fail, against a real redis-server.
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { Cluster } from 'ioredis';
import { spawnChild, type ChildWorker } from './child.ts';
import { startRedis, startRedisCluster, waitUntil, type RedisCluster, type RedisServer } from './redis-server.ts';
import type { EchoPush, EchoRequest } from './fixtures/echo-child.ts';
import { rejectionOf } from './rejection.ts';

/** Next `event` from `emitter`, or a clear timeout error (no bare sleeps in tests). */
function nextEvent(emitter: EventEmitter, event: string, timeoutMs = 2000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`Timed out after ${timeoutMs}ms waiting for '${event}'`));
    }, timeoutMs);
    emitter.once(event, onEvent);
  });
}


/** Alive and not a zombie (an orphan's zombie lingers if PID 1 in a container never reaps). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

describe('test support: redis-server harness', function () {
  let server: RedisServer;

  before(async function () {
    server = await startRedis();
  });

  after(async function () {
    await server?.stop();
  });

  it('starts a private server on a free loopback port that answers SET/GET', async function () {
    assert.notEqual(server.port, 6379);
    assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
    assert.equal(server.running, true);
    const client = server.client();
    assert.equal(await client.set('greeting', 'hello'), 'OK');
    assert.equal(await client.get('greeting'), 'hello');
    assert.deepEqual(await server.command('CONFIG', 'GET', 'save'), ['save', '']);
    assert.deepEqual(await server.command('CONFIG', 'GET', 'appendonly'), ['appendonly', 'no']);
  });

  it('pause() freezes the server without closing TCP: commands time out, resume() answers again', async function () {
    const client = server.client({ commandTimeout: 150 });
    assert.equal(await client.ping(), 'PONG');
    await server.pause();
    try {
      assert.equal(server.paused, true);
      const err = await rejectionOf(client.ping());
      assert.match(err.message, /Command timed out/);
      assert.equal(client.status, 'ready'); // the socket is still open
    } finally {
      await server.resume();
    }
    assert.equal(server.paused, false);
    assert.equal(await client.ping(), 'PONG');
  });

  it('kill() then restart() on the same port: the client reconnects to an empty server', async function () {
    const client = server.client();
    await client.set('survives', 'no');
    const port = server.port;
    const pid = server.pid;
    const reconnecting = nextEvent(client, 'reconnecting');
    await server.kill();
    assert.equal(server.running, false);
    assert.equal(server.pid, undefined);
    await reconnecting;

    await server.restart();
    assert.equal(server.port, port);
    assert.notEqual(server.pid, pid);
    await waitUntil('client to reconnect', 3000, () => client.status === 'ready');
    assert.equal(await client.get('survives'), null); // --save "" and no AOF: restarts are empty
    assert.equal(await client.set('after', 'restart'), 'OK');
  });

  it('restart() refuses to run while the server is running', async function () {
    const err = await rejectionOf(server.restart());
    assert.match(err.message, /still running/);
  });

  it('clientKill("pubsub") drops only subscribers; ioredis reconnects and resubscribes', async function () {
    const subscriber = server.client();
    const publisher = server.client();
    await subscriber.subscribe('invalidations');
    await publisher.ping();

    const closed = nextEvent(subscriber, 'close');
    const reconnecting = nextEvent(subscriber, 'reconnecting');
    assert.equal(await server.clientKill('pubsub'), 1);
    await closed;
    await reconnecting;
    assert.equal(await publisher.ping(), 'PONG'); // normal connection untouched

    // Re-subscription happens after 'ready'; publish until someone is listening again.
    const received: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    await waitUntil('subscriber to resubscribe', 3000, async () => (await publisher.publish('invalidations', 'k1')) === 1);
    await waitUntil('message after resubscribe', 1000, () => received.includes('k1'));
  });

  it('stop() closes tracked clients, is idempotent, and restart() works after it', async function () {
    const scratch = await startRedis();
    try {
      const client = scratch.client();
      await client.ping();
      await scratch.stop();
      await scratch.stop();
      assert.equal(scratch.running, false);
      assert.equal(client.status, 'end');
      await scratch.restart();
      assert.equal(await scratch.client().ping(), 'PONG');
    } finally {
      await scratch.stop();
    }
  });

  it('fails loudly, with the server log, when redis-server cannot start', async function () {
    const badOption = await rejectionOf(startRedis({ args: ['--no-such-directive', 'x'] }));
    assert.match(badOption.message, /exited with code 1/);
    assert.match(badOption.message, /Bad directive or wrong number of arguments/);

    const portTaken = await rejectionOf(startRedis({ port: server.port }));
    assert.match(portTaken.message, /Address already in use/);
  });
});

describe('test support: redis cluster harness', function () {
  let cluster: RedisCluster;
  const clients: Cluster[] = [];

  before(async function () {
    cluster = await startRedisCluster({ masters: 3 });
  });

  after(async function () {
    for (const client of clients) client.disconnect();
    await cluster?.stop();
  });

  function clusterClient(options: ConstructorParameters<typeof Cluster>[1] = {}): Cluster {
    const client = new Cluster(cluster.startupNodes, options);
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  }

  it('every node reports cluster_state:ok and keys spread over all masters', async function () {
    assert.equal(cluster.nodes.length, 3);
    for (const node of cluster.nodes) {
      assert.match(String(await node.command('CLUSTER', 'INFO')), /cluster_state:ok/);
    }
    const client = clusterClient();
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const key of keys) assert.equal(await client.set(key, `v-${key}`), 'OK');
    for (const key of keys) assert.equal(await client.get(key), `v-${key}`);
    const sizes = await Promise.all(cluster.nodes.map((n) => n.command('DBSIZE')));
    assert.ok(sizes.every((n) => typeof n === 'number' && n > 0), `DBSIZE per node: ${sizes.join(',')}`);
  });

  it('supports sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7.0+)', async function () {
    const subscriber = clusterClient({ shardedSubscribers: true });
    const publisher = clusterClient();
    await subscriber.ssubscribe('shard-invalidations');
    const message = nextEvent(subscriber, 'smessage');
    assert.equal(await publisher.spublish('shard-invalidations', 'k1'), 1);
    assert.deepEqual((await message).slice(0, 2), ['shard-invalidations', 'k1']);
  });
});

describe('test support: child process harness', function () {
  const fixture = new URL('./fixtures/echo-child.ts', import.meta.url);
  const workers: ChildWorker<EchoRequest, unknown, EchoPush>[] = [];
  const orphans: number[] = [];

  async function spawnEcho(args: string[] = []): Promise<ChildWorker<EchoRequest, unknown, EchoPush>> {
    const worker = await spawnChild<EchoRequest, unknown, EchoPush>(fixture, args);
    workers.push(worker);
    return worker;
  }

  after(async function () {
    for (const worker of workers) worker.kill();
    await Promise.all(workers.map((w) => w.exited));
    for (const pid of orphans) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('round-trips requests (structured clone) and passes argv', async function () {
    const worker = await spawnEcho(['--flag', 'value']);
    assert.notEqual(worker.pid, process.pid);
    assert.deepEqual(await worker.request({ op: 'argv' }), ['--flag', 'value']);
    const value = new Map<string, bigint>([['n', 42n]]);
    assert.deepEqual(await worker.request({ op: 'echo', value }), value);
    // Concurrent requests are correlated by id, not by order of arrival.
    const replies = await Promise.all([1, 2, 3].map((n) => worker.request({ op: 'echo', value: n })));
    assert.deepEqual(replies, [1, 2, 3]);
  });

  it('rejects with the child error, times out clearly, and reports pushes', async function () {
    const worker = await spawnEcho();
    const failed = await rejectionOf(worker.request({ op: 'fail', message: 'boom' }));
    assert.match(failed.message, /handler failed: Error: boom/);

    const timedOut = await rejectionOf(worker.request({ op: 'hang' }, { timeoutMs: 100 }));
    assert.match(timedOut.message, /request #\d+ \{"op":"hang"\} got no reply within 100ms/);

    assert.equal(await worker.request({ op: 'push', count: 3 }), 3);
    // The pushes arrived before we asked: waitFor still sees them.
    assert.deepEqual(await worker.waitFor((m) => m.n === 3), { type: 'tick', n: 3 });
    assert.deepEqual(await worker.waitFor((m) => m.type === 'tick'), { type: 'tick', n: 1 });
    const none = await rejectionOf(worker.waitFor((m) => m.n === 99, { timeoutMs: 50 }));
    assert.match(none.message, /no pushed message matched within 50ms/);
  });

  it('kill() ends the child and fails its pending requests; grandchildren die with their parent', async function () {
    const worker = await spawnEcho();
    const grandchildPid = await worker.request({ op: 'spawn-grandchild' });
    assert.equal(typeof grandchildPid, 'number');
    if (typeof grandchildPid !== 'number') return;
    orphans.push(grandchildPid);
    assert.equal(isAlive(grandchildPid), true);

    const pending = worker.request({ op: 'hang' });
    worker.kill();
    assert.deepEqual(await worker.exited, { code: null, signal: 'SIGKILL' });
    assert.match((await rejectionOf(pending)).message, /exited \(code null, signal SIGKILL\)/);
    // The IPC channel closing is the grandchild's cue to exit (serveParent's 'disconnect').
    await waitUntil(`grandchild ${grandchildPid} to exit`, 3000, () => !isAlive(grandchildPid));
  });
});
