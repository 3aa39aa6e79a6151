// The shared helpers other tests, the bench and the demo stand on: ports, programs run to
// their end, stopping an IPC child, and reading Prometheus text by string matching.
import assert from 'node:assert/strict';
import net from 'node:net';
import { runChecked, runProcess, spawnChild, startProcess } from './child.ts';
import { metricNames, sampleNames, sampleSum } from './exposition-text.ts';
import type { EchoPush, EchoRequest } from './fixtures/echo-child.ts';
import { close, freePort, holdPort, listen, listenable } from './ports.ts';
import { rejectionOf } from './rejection.ts';

describe('test support: ports', function () {
  it('freePort() gives a port a server can take; holdPort() keeps others off it until released', async function () {
    const port = await freePort();
    assert.equal(await listenable(port), true);
    const held = await holdPort(port);
    assert.equal(await listenable(port), false);
    const server = net.createServer();
    assert.equal(((await rejectionOf(listen(server, port))) as NodeJS.ErrnoException).code, 'EADDRINUSE');
    await held.release();
    assert.equal(await listenable(port), true);
  });

  it('listen() on port 0 resolves with the port the OS picked; close() frees it', async function () {
    const server = net.createServer();
    const port = await listen(server);
    assert.ok(port > 0);
    assert.equal(await listenable(port), false);
    await close(server);
    assert.equal(await listenable(port), true);
    await close(server); // not listening any more: no error
  });
});

describe('test support: programs', function () {
  const node = process.execPath;

  it('runProcess() captures stdout, stderr and the exit code, and feeds input to stdin', async function () {
    const script = 'process.stdin.setEncoding("utf8"); let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => { console.log(s.toUpperCase()); console.error("done"); process.exit(3); });';
    assert.deepEqual(await runProcess(node, ['-e', script], { input: 'héllo' }), { code: 3, signal: null, stdout: 'HÉLLO\n', stderr: 'done\n' });
  });

  it('runChecked() rejects with the command line and its output unless the program exits 0', async function () {
    assert.equal((await runChecked(node, ['-e', 'console.log("ok")'])).stdout, 'ok\n');
    const failed = await rejectionOf(runChecked(node, ['-e', 'console.error("broken"); process.exit(2)']));
    assert.match(failed.message, /-e console\.error\("broken"\); process\.exit\(2\) exited with code 2\n--- stdout\n\n--- stderr\nbroken\n/);
  });

  it('kills a program at its timeout or on abort, and rejects when it cannot be started', async function () {
    const hang = ['-e', 'setInterval(() => undefined, 1000)'];
    assert.deepEqual(await runProcess(node, hang, { timeoutMs: 100 }), { code: null, signal: 'SIGKILL', stdout: '', stderr: '' });
    assert.match((await rejectionOf(runChecked(node, hang, { timeoutMs: 100 }))).message, /was killed by SIGKILL \(timeout 100 ms\)/);
    const abort = new AbortController();
    const running = runProcess(node, hang, { signal: abort.signal });
    abort.abort();
    assert.equal((await running).signal, 'SIGKILL');
    assert.match((await rejectionOf(runProcess('/nonexistent/program', []))).message, /^cannot run \/nonexistent\/program: spawn \/nonexistent\/program ENOENT/);
  });

  it('startProcess(): a daemon that can be killed, its output captured', async function () {
    const started = startProcess(node, ['-e', 'console.log("up"); setInterval(() => undefined, 1000)']);
    assert.equal(typeof started.pid, 'number');
    while (!started.stdout().includes('up')) await new Promise((resolve) => setTimeout(resolve, 10));
    started.process.kill('SIGKILL');
    assert.deepEqual(await started.exited, { code: null, signal: 'SIGKILL' });
    assert.equal(started.output(), 'up\n');
  });
});

describe('test support: stopping an IPC child', function () {
  const fixture = new URL('./fixtures/echo-child.ts', import.meta.url);

  it('stop() closes the channel, the child exits on its own, and the exit is reported', async function () {
    // --keep-alive: a handle that would keep it running without serveParent's 'disconnect' exit.
    const worker = await spawnChild<EchoRequest, unknown, EchoPush>(fixture, ['--keep-alive']);
    assert.equal(await worker.request({ op: 'echo', value: 1 }), 1);
    assert.deepEqual(await worker.stop(), { code: 0, signal: null });
    assert.deepEqual(await worker.stop(), { code: 0, signal: null }); // idempotent
    assert.match((await rejectionOf(worker.request({ op: 'echo', value: 2 }))).message, /has exited; cannot send request/);
  });

  it('waitFor() names what it waited for when it times out', async function () {
    const worker = await spawnChild<EchoRequest, unknown, EchoPush>(fixture);
    try {
      const none = await rejectionOf(worker.waitFor((m) => m.n === 99, { timeoutMs: 50, what: 'tick 99' }));
      assert.match(none.message, /no pushed message matched \(tick 99\) within 50ms/);
    } finally {
      await worker.stop();
    }
  });
});

describe('test support: Prometheus text by string matching', function () {
  const text = [
    '# HELP requests_total Requests.',
    '# TYPE requests_total counter',
    'requests_total{cache="a",result="hit"} 3',
    'requests_total{cache="b",result="hit"} 4',
    'requests_total{cache="a",result="miss"} 5',
    '# TYPE lag histogram',
    'lag_bucket{le="+Inf"} 2',
    'lag_sum 0.5',
    'lag_count 2',
    '',
  ].join('\n');

  it('reads family names, sample names and label-filtered sums', function () {
    assert.deepEqual(metricNames(text), ['lag', 'requests_total']);
    assert.deepEqual(sampleNames(text), ['requests_total', 'requests_total', 'requests_total', 'lag_bucket', 'lag_sum', 'lag_count']);
    assert.equal(sampleSum(text, 'requests_total', { result: 'hit' }), 7);
    assert.equal(sampleSum(text, 'requests_total', { cache: 'a' }), 8);
    assert.equal(sampleSum(text, 'requests_total'), 12);
    assert.equal(sampleSum(text, 'absent_total'), 0);
  });

  it('sampleNames() refuses a line that is neither a comment nor a sample', function () {
    assert.throws(() => sampleNames('ok 1\n{broken} 2\n'), /not a sample line: "\{broken\} 2"/);
  });
});
