/**
 * The demo's own redis-server, for the chaos that needs a server it may kill
 * or freeze: started on a free 127.0.0.1 port with nothing persisted, then
 * SIGKILLed and restarted on the same port, SIGSTOPped and resumed, or sent
 * admin commands (CLIENT PAUSE, CLIENT KILL) over a short-lived connection.
 * Whatever happens to the demo, the server does not outlive it.
 * (test/support/redis-server.ts does more, but imports test-only helpers.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';

const HOST = '127.0.0.1';
const BIN = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';

export class DemoRedis {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private readonly killOnExit = (): void => void this.child?.kill('SIGKILL');

  private constructor(readonly port: number) {
    process.on('exit', this.killOnExit);
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  /** Starts a server on a free port (a few tries: another process may take the port first). */
  static async start(): Promise<DemoRedis> {
    for (let attempt = 1; ; attempt++) {
      const server = new DemoRedis(await freePort());
      try {
        await server.spawn();
        return server;
      } catch (error) {
        await server.stop();
        if (attempt >= 3) throw error;
      }
    }
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** A fresh (empty) server on the same port. */
  restart(): Promise<void> {
    return this.spawn();
  }

  /** SIGSTOP: connections stay open, nothing answers. Resolves once the kernel reports it stopped. */
  async pause(): Promise<void> {
    const pid = this.child?.pid;
    this.child?.kill('SIGSTOP');
    while (pid !== undefined && !['T', 't', undefined].includes(procState(pid))) await delay(2);
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  command(...args: (string | number)[]): Promise<unknown> {
    return redisCommand(this.url, ...args);
  }

  /** SIGTERM (after SIGCONT, in case it is stopped), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const child = this.child;
    process.off('exit', this.killOnExit);
    if (child === undefined) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await this.exited;
    clearTimeout(timer);
  }

  private async spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'];
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const keep = (chunk: Buffer): void => void (log = (log + chunk.toString()).slice(-4_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.child = child;
    this.exited = once(child, 'exit').catch(() => undefined).then(() => {
      if (this.child === child) this.child = undefined;
    });
    child.on('error', (error) => (log += String(error)));
    const deadline = Date.now() + 5_000;
    for (;;) {
      if (this.child !== child) throw new Error(`redis-server on :${this.port} exited: ${log}`);
      try {
        const info = String(await this.command('INFO', 'server'));
        if (info.includes(`process_id:${child.pid ?? -1}\r`)) return;
        throw new Error(`port ${this.port} is answered by another redis-server`);
      } catch (error) {
        if (Date.now() > deadline || (error instanceof Error && error.message.includes('another'))) {
          child.kill('SIGKILL');
          throw new Error(`redis-server on :${this.port} did not start: ${error instanceof Error ? error.message : String(error)} ${log}`, { cause: error });
        }
        await delay(20);
      }
    }
  }
}

/** One command over a short-lived connection that never retries. */
export async function redisCommand(url: string, ...args: (string | number)[]): Promise<unknown> {
  const conn = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, commandTimeout: 2_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  conn.on('error', () => undefined);
  try {
    await conn.connect();
    return await conn.call(String(args[0]), ...args.slice(1));
  } finally {
    conn.disconnect();
  }
}

/** Linux process state letter (e.g. 'T' when stopped), from /proc. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
