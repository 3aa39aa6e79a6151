// Test support: run a TS script as a real child process (its own event loop, its own
// ioredis connections) and talk to it over the IPC channel.
//
// Parent:  const w = await spawnChild(fixtureUrl, ['arg']);
//          const reply = await w.request({ op: 'get', key: 'k' });
//          const msg = await w.waitFor((m) => m.type === 'invalidated');
//          w.kill(); await w.exited;
// Child:   const parent = serveParent(async (req) => ...); parent.push({ type: 'invalidated' });
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { trackChild, untrackChild } from './reaper.ts';

const TAG = 'coherent-cache-test-ipc';
const OUTPUT_LIMIT = 64 * 1024;

type Envelope =
  | { tag: typeof TAG; kind: 'ready' }
  | { tag: typeof TAG; kind: 'request'; id: number; body: unknown }
  | { tag: typeof TAG; kind: 'response'; id: number; ok: true; body: unknown }
  | { tag: typeof TAG; kind: 'response'; id: number; ok: false; error: { name: string; message: string; stack?: string } }
  | { tag: typeof TAG; kind: 'push'; body: unknown };

function isEnvelope(value: unknown): value is Envelope {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === TAG;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnChildOptions {
  /** Deadline for the child to call serveParent() (tsx compiles on first start). Default 10000. */
  readyTimeoutMs?: number;
  /** Default deadline for request()/waitFor(). Default 5000. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Show the child's stdout/stderr live instead of only capturing it. */
  inheritOutput?: boolean;
}

export interface ChildWorker<Req = unknown, Res = unknown, Push = unknown> {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Settles when the child has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** Every message the child pushed, in order. */
  readonly pushes: readonly Push[];
  /** Sends a request and resolves with the handler's reply; rejects on handler error, timeout or child exit. */
  request(body: Req, options?: { timeoutMs?: number }): Promise<Res>;
  /**
   * Resolves with the first pushed message matching the predicate that no earlier waitFor
   * claimed, including ones that arrived before the call (so there's no subscribe race).
   */
  waitFor<T extends Push>(predicate: (msg: Push) => msg is T, options?: { timeoutMs?: number }): Promise<T>;
  waitFor(predicate: (msg: Push) => boolean, options?: { timeoutMs?: number }): Promise<Push>;
  /** Sends a signal (default SIGKILL); await `exited` to know it is gone. */
  kill(signal?: NodeJS.Signals): void;
  /** Captured stdout+stderr (tail). */
  output(): string;
}

// ---------------------------------------------------------------------------
// Parent side


// Resolved once so the child finds tsx regardless of its cwd.
const TSX_LOADER = import.meta.resolve('tsx');

interface Waiter<Push> {
  predicate: (msg: Push) => boolean;
  resolve: (msg: Push) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface Pending<Res> {
  resolve: (body: Res) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export async function spawnChild<Req = unknown, Res = unknown, Push = unknown>(
  script: string | URL,
  args: readonly string[] = [],
  options: SpawnChildOptions = {},
): Promise<ChildWorker<Req, Res, Push>> {
  const { readyTimeoutMs = 10000, timeoutMs: defaultTimeoutMs = 5000, inheritOutput = false } = options;
  const scriptPath = script instanceof URL || script.startsWith('file:') ? fileURLToPath(script) : script;
  const child = fork(scriptPath, [...args], {
    execArgv: ['--import', TSX_LOADER],
    stdio: inheritOutput ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'],
    // Structured clone: Maps, Sets, bigints, Dates and Buffers survive the trip.
    serialization: 'advanced',
    ...(options.env ? { env: options.env } : {}),
  });
  trackChild(child);
  const pid = child.pid;
  if (pid === undefined) {
    untrackChild(child);
    throw new Error(`spawnChild(${scriptPath}): fork failed`);
  }

  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const describe = (): string => `child ${pid} (${scriptPath})`;
  const withOutput = (message: string): Error => new Error(output ? `${message}\n  child output:\n${output}` : message);

  const pending = new Map<number, Pending<Res>>();
  const waiters = new Set<Waiter<Push>>();
  const pushes: Push[] = [];
  const unclaimed: Push[] = [];
  let nextId = 1;
  let resolveReady: () => void = () => undefined;
  let rejectReady: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });

  let exitInfo: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    // 'close' rather than 'exit' so the captured output is complete.
    child.once('close', (code, signal) => {
      exitInfo = { code, signal };
      untrackChild(child);
      const err = withOutput(`${describe()} exited (code ${String(code)}, signal ${String(signal)})`);
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      pending.clear();
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(err);
      }
      waiters.clear();
      rejectReady(err);
      resolve(exitInfo);
    });
  });

  child.on('message', (raw: unknown) => {
    if (!isEnvelope(raw)) return;
    switch (raw.kind) {
      case 'ready':
        resolveReady();
        return;
      case 'response': {
        const p = pending.get(raw.id);
        if (!p) return; // already timed out
        pending.delete(raw.id);
        clearTimeout(p.timer);
        if (raw.ok) {
          p.resolve(raw.body as Res);
        } else {
          const err = new Error(`${describe()} handler failed: ${raw.error.name}: ${raw.error.message}`);
          if (raw.error.stack) err.stack = `${err.message}\n  child stack: ${raw.error.stack}`;
          p.reject(err);
        }
        return;
      }
      case 'push': {
        const msg = raw.body as Push;
        pushes.push(msg);
        for (const w of waiters) {
          if (w.predicate(msg)) {
            waiters.delete(w);
            clearTimeout(w.timer);
            w.resolve(msg);
            return;
          }
        }
        unclaimed.push(msg);
        return;
      }
      case 'request':
        return;
    }
  });

  const readyTimer = setTimeout(
    () => rejectReady(withOutput(`${describe()} did not call serveParent() within ${readyTimeoutMs}ms`)),
    readyTimeoutMs,
  );
  try {
    await ready;
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  } finally {
    clearTimeout(readyTimer);
  }

  function waitFor(predicate: (msg: Push) => boolean, waitOptions: { timeoutMs?: number } = {}): Promise<Push> {
    const index = unclaimed.findIndex(predicate);
    if (index >= 0) {
      const [msg] = unclaimed.splice(index, 1) as [Push];
      return Promise.resolve(msg);
    }
    if (exitInfo) return Promise.reject(withOutput(`${describe()} has exited; waitFor cannot match`));
    const timeoutMs = waitOptions.timeoutMs ?? defaultTimeoutMs;
    return new Promise<Push>((resolve, reject) => {
      const waiter: Waiter<Push> = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          reject(
            withOutput(
              `${describe()}: no pushed message matched within ${timeoutMs}ms; unclaimed: ${JSON.stringify(unclaimed.slice(-10))}`,
            ),
          );
        }, timeoutMs),
      };
      waiters.add(waiter);
    });
  }

  const worker: ChildWorker<Req, Res, Push> = {
    pid,
    process: child,
    exited,
    pushes,
    request(body: Req, requestOptions: { timeoutMs?: number } = {}): Promise<Res> {
      if (exitInfo) return Promise.reject(withOutput(`${describe()} has exited; cannot send request`));
      const id = nextId++;
      const timeoutMs = requestOptions.timeoutMs ?? defaultTimeoutMs;
      return new Promise<Res>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(withOutput(`${describe()}: request #${id} ${JSON.stringify(body)} got no reply within ${timeoutMs}ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        const envelope: Envelope = { tag: TAG, kind: 'request', id, body };
        child.send(envelope, (err) => {
          if (!err) return;
          pending.delete(id);
          clearTimeout(timer);
          reject(withOutput(`${describe()}: could not send request #${id}: ${err.message}`));
        });
      });
    },
    waitFor,
    kill(signal: NodeJS.Signals = 'SIGKILL'): void {
      if (!exitInfo) child.kill(signal);
    },
    output: () => output,
  };
  return worker;
}

// ---------------------------------------------------------------------------
// Child side

export interface ParentLink<Push = unknown> {
  /** Sends an unsolicited message; the parent sees it through waitFor()/pushes. */
  push(msg: Push): void;
}

/**
 * Call once from a child script started by spawnChild(): answers requests with `handler`,
 * tells the parent it is ready, and exits when the parent goes away.
 */
export function serveParent<Req = unknown, Res = unknown, Push = unknown>(
  handler: (req: Req) => Res | Promise<Res>,
): ParentLink<Push> {
  const send = process.send?.bind(process);
  if (!send) throw new Error('serveParent(): no IPC channel; start this script with spawnChild()');
  const post = (envelope: Envelope): void => {
    // The parent may already be gone; 'disconnect' below handles that.
    if (process.connected) send(envelope, undefined, undefined, () => undefined);
  };
  // The IPC channel closing means the parent died or dropped us: never linger as an orphan.
  process.on('disconnect', () => process.exit());
  process.on('message', (raw: unknown) => {
    if (!isEnvelope(raw) || raw.kind !== 'request') return;
    const { id, body } = raw;
    Promise.resolve()
      .then(() => handler(body as Req))
      .then(
        (reply) => post({ tag: TAG, kind: 'response', id, ok: true, body: reply }),
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          post({
            tag: TAG,
            kind: 'response',
            id,
            ok: false,
            error: { name: e.name, message: e.message, ...(e.stack !== undefined ? { stack: e.stack } : {}) },
          });
        },
      );
  });
  post({ tag: TAG, kind: 'ready' });
  return { push: (msg: Push) => post({ tag: TAG, kind: 'push', body: msg }) };
}
