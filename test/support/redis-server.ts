// Test support: real redis-server processes on free loopback ports, so integration
// tests can kill, pause and restart the server they talk to (never the shared :6379).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { runChecked, startProcess, type StartedProcess } from './child.ts';
import { freePort } from './ports.ts';
import { removeDir, trackDir } from './reaper.ts';

export const REDIS_SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? '/usr/bin/redis-server';
export const REDIS_CLI_BIN = process.env['REDIS_CLI_BIN'] ?? '/usr/bin/redis-cli';
const HOST = '127.0.0.1';
const LOG_LIMIT = 64 * 1024;

export type ClientType = 'normal' | 'master' | 'replica' | 'slave' | 'pubsub';

export interface StartRedisOptions {
  /** Port to bind; a free one is picked when omitted. */
  port?: number;
  /** Extra `--name value` pairs appended to the command line, e.g. `['--maxmemory', '10mb']`. */
  args?: readonly string[];
  /** How long to wait for the first PONG (ms). Default 5000. */
  startTimeoutMs?: number;
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:P` */
  readonly url: string;
  /** Temp working directory (kept across restarts so cluster nodes keep their nodes.conf). */
  readonly dir: string;
  /** pid of the current process, undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly paused: boolean;
  /** Teardown: closes tracked clients, SIGTERM (SIGKILL after a deadline), awaits exit. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal (default SIGKILL) and awaits exit; tracked clients are left to reconnect. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** SIGSTOP: TCP stays open but nothing answers. Resolves once the kernel reports the process stopped. */
  pause(): Promise<void>;
  /** SIGCONT, resolves once the process runs again. */
  resume(): Promise<void>;
  /** Starts a fresh process on the same port and dir (after stop/kill); resolves on PONG. Data is empty. */
  restart(): Promise<void>;
  /** `CLIENT KILL TYPE <type>` over a short-lived connection; resolves to the number of clients killed. */
  clientKill(type: ClientType): Promise<number>;
  /** Runs one command over a short-lived connection (not tracked, never retried). */
  command(name: string, ...args: (string | number)[]): Promise<unknown>;
  /** A tracked ioredis client (lazyConnect, bounded retries); closed by stop(). */
  client(options?: RedisOptions): Redis;
  /** Server stdout/stderr so far (tail), for assertion messages. */
  log(): string;
}

export interface RedisCluster {
  readonly nodes: RedisServer[];
  readonly startupNodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** One raw PING over TCP: true only on +PONG (not -LOADING, not a timeout). */
function pingOnce(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    let settled = false;
    const socket = net.connect({ host: HOST, port });
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

/** Linux process state letter from /proc (e.g. 'S', 'R', 'T'); undefined when unknown. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces; the state follows it.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Polls `check` every `intervalMs` until it returns true; throws after `deadlineMs`. */
export async function waitUntil(what: string, deadlineMs: number, check: () => boolean | Promise<boolean>, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(`Timed out after ${deadlineMs}ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/** A short-lived connection for admin commands: no retries, no offline queue, bounded. */
async function oneShot(port: number, name: string, args: (string | number)[]): Promise<unknown> {
  const conn = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  conn.on('error', () => undefined); // surfaced through the rejected promise instead
  try {
    await conn.connect();
    return await conn.call(name, ...args);
  } finally {
    conn.disconnect();
  }
}

function defaultClientOptions(port: number): RedisOptions {
  return {
    host: HOST,
    port,
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 2,
    // Reconnect quickly (restart tests) but give up after ~10s so a forgotten client
    // cannot keep the mocha process alive forever.
    retryStrategy: (times) => (times > 200 ? null : 50),
  };
}

class RedisServerProcess implements RedisServer {
  readonly host = HOST;
  readonly dir: string;
  private started: StartedProcess | undefined;
  private exitPromise: Promise<void> = Promise.resolve();
  private exitInfo: string | undefined;
  /** Output of the processes before the current one (restarts). */
  private pastOutput = '';
  private isPaused = false;
  private readonly clients = new Set<Redis>();

  constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
    private readonly startTimeoutMs: number,
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'coherent-cache-redis-'));
    trackDir(this.dir);
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }
  private get child(): ChildProcess | undefined {
    return this.started?.process;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== undefined;
  }
  get paused(): boolean {
    return this.isPaused;
  }

  log(): string {
    return (this.pastOutput + (this.started?.output() ?? '')).slice(-LOG_LIMIT);
  }

  /** Spawns the process and waits for PONG; throws (with the server log) on early exit or timeout. */
  async spawnAndWait(): Promise<void> {
    if (this.child) throw new Error(`redis-server on port ${this.port} is already running`);
    const args = [
      '--port', String(this.port),
      '--bind', HOST,
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.dir,
      '--daemonize', 'no',
      '--loglevel', 'warning',
      '--logfile', '', // stdout, captured below
      '--databases', '16',
      '--enable-debug-command', 'local', // lets tests use DEBUG SLEEP etc.
      ...this.extraArgs,
    ];
    const started = startProcess(REDIS_SERVER_BIN, args, { outputLimit: LOG_LIMIT });
    const child = started.process;
    this.started = started;
    this.exitInfo = undefined;
    this.isPaused = false;
    this.exitPromise = started.exited.then((exit) => {
      this.exitInfo = exit.error ? `spawn error: ${exit.error.message}` : `exited with code ${String(exit.code)} signal ${String(exit.signal)}`;
      if (this.started === started) {
        this.pastOutput = (this.pastOutput + started.output()).slice(-LOG_LIMIT);
        this.started = undefined;
        this.isPaused = false;
      }
    });

    try {
      await waitUntil(`redis-server on port ${this.port} to answer PING`, this.startTimeoutMs, async () => {
        if (this.exitInfo !== undefined) throw new Error(`redis-server ${this.exitInfo}`);
        return pingOnce(this.port, 500);
      });
      // The PONG might come from someone else already on this port (our process then dies
      // with "Address already in use"); make sure the server answering is ours.
      const info = parseInfo(String(await oneShot(this.port, 'INFO', ['server'])));
      if (info.get('process_id') !== String(child.pid)) {
        // Give ours a moment to exit so its log (the bind error) is complete.
        await Promise.race([this.exitPromise, delay(2000, undefined, { ref: false })]);
        throw new Error(`port ${this.port} is answered by another redis-server (pid ${String(info.get('process_id'))})`);
      }
    } catch (err) {
      child.kill('SIGKILL');
      await this.exitPromise;
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${message}\n  ${REDIS_SERVER_BIN} ${args.map((a) => (a === '' ? '""' : a)).join(' ')}\n  log:\n${this.log()}`,
        { cause: err },
      );
    }
  }

  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    // A stopped process only acts on SIGTERM once continued.
    if (this.isPaused) child.kill('SIGCONT');
    await this.exitPromise;
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.disconnect();
    this.clients.clear();
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    if (this.isPaused) child.kill('SIGCONT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    try {
      await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  async pause(): Promise<void> {
    const child = this.requireRunning('pause');
    child.kill('SIGSTOP');
    this.isPaused = true;
    const pid = child.pid;
    if (pid === undefined) return;
    // kill() returns before the target is actually stopped; wait so the next command
    // deterministically hits a frozen server.
    await waitUntil(`pid ${pid} to stop`, 2000, () => {
      const state = procState(pid);
      return state === undefined || state === 'T' || state === 't';
    }, 2);
  }

  async resume(): Promise<void> {
    const child = this.requireRunning('resume');
    child.kill('SIGCONT');
    this.isPaused = false;
    const pid = child.pid;
    if (pid === undefined) return;
    await waitUntil(`pid ${pid} to continue`, 2000, () => {
      const state = procState(pid);
      return state !== 'T' && state !== 't';
    }, 2);
  }

  async restart(): Promise<void> {
    if (this.child) throw new Error(`restart(): redis-server on port ${this.port} is still running; stop() or kill() it first`);
    await this.spawnAndWait();
  }

  async clientKill(type: ClientType): Promise<number> {
    const killed = await this.command('CLIENT', 'KILL', 'TYPE', type);
    if (typeof killed !== 'number') throw new Error(`CLIENT KILL returned ${JSON.stringify(killed)}`);
    return killed;
  }

  command(name: string, ...args: (string | number)[]): Promise<unknown> {
    return oneShot(this.port, name, args);
  }

  client(options: RedisOptions = {}): Redis {
    const client = new Redis({ ...defaultClientOptions(this.port), ...options });
    // Connection errors are expected while a test kills/pauses the server; tests assert
    // on command results and events instead of ioredis' "Unhandled error event" noise.
    client.on('error', () => undefined);
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  private requireRunning(op: string): ChildProcess {
    if (!this.child) throw new Error(`${op}(): redis-server on port ${this.port} is not running`);
    return this.child;
  }
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && err.message.includes('Address already in use');
}

/** Starts a private redis-server on a free loopback port and waits for PONG. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const { args = [], startTimeoutMs = 5000 } = options;
  // freePort() can race with other processes grabbing the port; retry with a new one.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const server = new RedisServerProcess(port, args, startTimeoutMs);
    try {
      await server.spawnAndWait();
      return server;
    } catch (err) {
      removeDir(server.dir);
      if (options.port !== undefined || attempt >= 3 || !isAddressInUse(err)) throw err;
    }
  }
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return fields;
}

async function startClusterNode(args: readonly string[]): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const busPort = await freePort();
    try {
      return await startRedis({
        port,
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '2000',
          '--cluster-port', String(busPort),
          ...args,
        ],
      });
    } catch (err) {
      if (attempt >= 3 || !isAddressInUse(err)) throw err;
    }
  }
}

export interface StartRedisClusterOptions {
  /** Number of masters (no replicas). Redis needs at least 3. Default 3. */
  masters?: number;
  /** Extra args for every node. */
  args?: readonly string[];
  /** Deadline for cluster_state:ok on every node (ms). Default 15000. */
  readyTimeoutMs?: number;
}

/**
 * A masters-only Redis Cluster on free loopback ports. Each node has its own dir (nodes.conf
 * survives node restarts) and an explicit --cluster-port, since port+10000 may be taken or >65535.
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, args = [], readyTimeoutMs = 15000 } = options;
  if (masters < 3) throw new Error('startRedisCluster: redis-cli --cluster create needs at least 3 masters');
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startClusterNode(args));
    await runChecked(
      REDIS_CLI_BIN,
      ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeoutMs: 20000 },
    );
    await waitUntil('cluster_state:ok on every node', readyTimeoutMs, async () => {
      const infos = await Promise.all(nodes.map((n) => n.command('CLUSTER', 'INFO')));
      return infos.every((raw) => {
        const info = parseInfo(String(raw));
        // All slots served and every node knows every other node, so any node is a valid
        // startup node for a cluster client.
        return (
          info.get('cluster_state') === 'ok' &&
          info.get('cluster_slots_ok') === '16384' &&
          info.get('cluster_known_nodes') === String(masters)
        );
      });
    }, 50);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: HOST, port: n.port })),
    stop,
  };
}
