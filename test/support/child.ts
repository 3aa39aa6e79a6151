// Test support: child processes, for the tests, fixtures and benchmarks alike. Every one
// is killed when this process ends (reaper.ts) and its output captured (a tail).
//
// Programs:  const { code, stdout } = await runProcess('promtool', ['check', 'rules', file]);
//            await runChecked(file, args);              // rejects unless it exits 0
//            const p = startProcess('prometheus', args); // a daemon: p.exited, p.process.kill()
//
// A TS script as a real child process (its own event loop, its own ioredis connections),
// talked to over the IPC channel:
// Parent:  const w = await spawnChild(fixtureUrl, ['arg']);
//          const reply = await w.request({ op: 'get', key: 'k' });
//          const msg = await w.waitFor((m) => m.type === 'invalidated');
//          w.kill(); await w.exited;   // or: await w.stop();
// Child:   const parent = serveParent(async (req) => ...); parent.push({ type: 'invalidated' });
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { trackChild, untrackChild } from './reaper.ts';

const TAG = 'coherent-cache-test-ipc';
const OUTPUT_LIMIT = 64 * 1024;

// ---------------------------------------------------------------------------
// Any program

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it could not be started (spawn error), if so. */
  error?: Error;
}

export interface StartProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to its stdin, which is then closed (stdin is /dev/null without it). */
  input?: string;
  /** Its stdout/stderr go to ours instead of being captured. */
  inheritOutput?: boolean;
  /** How much of each output stream is kept (the tail), in characters. Default 64 KiB. */
  outputLimit?: number;
  /** An IPC channel, as fork() opens (structured-clone serialization). */
  ipc?: boolean;
}

export interface StartedProcess {
  readonly process: ChildProcess;
  /** undefined when it could not be started. */
  readonly pid: number | undefined;
  /** Settles once it has exited and its output is complete (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /** Captured stdout, stderr, and both interleaved (tails). */
  stdout(): string;
  stderr(): string;
  output(): string;
}

/** Starts `file` with `args`; it is SIGKILLed if this process ends first. */
export function startProcess(file: string, args: readonly string[], options: StartProcessOptions = {}): StartedProcess {
  const { inheritOutput = false, outputLimit = OUTPUT_LIMIT, ipc = false } = options;
  const out = inheritOutput ? 'inherit' : 'pipe';
  const child = spawn(file, [...args], {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', out, out, ...(ipc ? ['ipc' as const] : [])],
    ...(ipc ? { serialization: 'advanced' as const } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout = (stdout + chunk).slice(-outputLimit);
    output = (output + chunk).slice(-outputLimit);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-outputLimit);
    output = (output + chunk).slice(-outputLimit);
  });
  if (options.input !== undefined) {
    child.stdin?.on('error', () => undefined); // EPIPE when it exits without reading: its exit says more
    child.stdin?.end(options.input);
  }
  let error: Error | undefined;
  child.once('error', (err) => (error ??= err));
  const exited = new Promise<ProcessExit>((resolve) => {
    let settled = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      untrackChild(child);
      resolve(error === undefined ? { code, signal } : { code, signal, error });
    };
    // 'close' rather than 'exit' so the captured output is complete; it follows a spawn error too...
    child.once('close', settle);
    // ...but never comes once this side has closed an IPC channel (disconnect()): then the exit and the end of the output do.
    child.once('exit', (code, signal) => {
      const outputs = [child.stdout, child.stderr].filter((stream): stream is Readable => stream !== null && !stream.closed);
      void Promise.all(outputs.map((stream) => once(stream, 'close').catch(() => undefined))).then(() => settle(code, signal));
    });
  });
  return { process: child, pid: child.pid, exited, stdout: () => stdout, stderr: () => stderr, output: () => output };
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunProcessOptions extends Omit<StartProcessOptions, 'ipc' | 'inheritOutput'> {
  /** SIGKILLed after this long (ms). */
  timeoutMs?: number;
  /** SIGKILLed when this aborts (e.g. from an after() hook). */
  signal?: AbortSignal;
}

/** Runs `file` to its end, capturing its output; rejects only when it cannot be started. */
export async function runProcess(file: string, args: readonly string[], options: RunProcessOptions = {}): Promise<ProcessResult> {
  const { timeoutMs, signal, ...startOptions } = options;
  const started = startProcess(file, args, { outputLimit: 1024 * 1024, ...startOptions });
  const kill = (): void => void started.process.kill('SIGKILL');
  const timer = timeoutMs === undefined ? undefined : setTimeout(kill, timeoutMs);
  signal?.addEventListener('abort', kill, { once: true });
  if (signal?.aborted === true) kill();
  const exit = await started.exited;
  clearTimeout(timer);
  signal?.removeEventListener('abort', kill);
  if (exit.error !== undefined) throw new Error(`cannot run ${file}: ${exit.error.message}`, { cause: exit.error });
  return { code: exit.code, signal: exit.signal, stdout: started.stdout(), stderr: started.stderr() };
}

/** runProcess, rejecting (with the command line and its output) unless it exits 0. */
export async function runChecked(file: string, args: readonly string[], options: RunProcessOptions = {}): Promise<ProcessResult> {
  const result = await runProcess(file, args, options);
  if (result.code !== 0) {
    const how = result.signal !== null ? `was killed by ${result.signal}${options.timeoutMs !== undefined ? ` (timeout ${options.timeoutMs} ms)` : ''}` : `exited with code ${String(result.code)}`;
    throw new Error(`${file} ${args.join(' ')} ${how}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  }
  return result;
}

// ---------------------------------------------------------------------------
// A TS script with an IPC channel

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
  /** Extra node flags (e.g. `--expose-gc`); tsx is always loaded. */
  execArgv?: readonly string[];
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
  waitFor<T extends Push>(predicate: (msg: Push) => msg is T, options?: WaitForOptions): Promise<T>;
  waitFor(predicate: (msg: Push) => boolean, options?: WaitForOptions): Promise<Push>;
  /** Sends a signal (default SIGKILL); await `exited` to know it is gone. */
  kill(signal?: NodeJS.Signals): void;
  /** Closes the IPC channel (serveParent() exits on that), SIGKILLs after `graceMs` (default 2000), resolves once it is gone. */
  stop(graceMs?: number): Promise<ChildExit>;
  /** Captured stdout+stderr (tail). */
  output(): string;
}

export interface WaitForOptions {
  timeoutMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
}

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
  const { readyTimeoutMs = 10000, timeoutMs: defaultTimeoutMs = 5000, inheritOutput = false, execArgv = [] } = options;
  const scriptPath = script instanceof URL || script.startsWith('file:') ? fileURLToPath(script) : script;
  // What fork() does, with structured clone: Maps, Sets, bigints, Dates and Buffers survive the trip.
  const started = startProcess(process.execPath, [...execArgv, '--import', TSX_LOADER, scriptPath, ...args], {
    ipc: true,
    inheritOutput,
    ...(options.env ? { env: options.env } : {}),
  });
  const child = started.process;
  const pid = started.pid;
  if (pid === undefined) {
    await started.exited;
    throw new Error(`spawnChild(${scriptPath}): fork failed`);
  }

  const describe = (): string => `child ${pid} (${scriptPath})`;
  const withOutput = (message: string): Error => {
    const output = started.output();
    return new Error(output ? `${message}\n  child output:\n${output}` : message);
  };

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
  const exited = started.exited.then(({ code, signal }) => {
    exitInfo = { code, signal };
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
    return exitInfo;
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

  function waitFor(predicate: (msg: Push) => boolean, waitOptions: WaitForOptions = {}): Promise<Push> {
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
              `${describe()}: no pushed message matched${waitOptions.what !== undefined ? ` (${waitOptions.what})` : ''} within ${timeoutMs}ms; unclaimed: ${JSON.stringify(unclaimed.slice(-10))}`,
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
    async stop(graceMs = 2000): Promise<ChildExit> {
      if (exitInfo) return exitInfo;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    output: () => started.output(),
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
