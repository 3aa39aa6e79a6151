/**
 * CommonJS services (NestJS ones among them) load the package with require():
 * Node 22.12+ and 24 load its ES modules through require(esm), which needs a
 * condition in "exports" that require() matches and no top-level await
 * anywhere in the graph it loads (require() throws ERR_REQUIRE_ASYNC_MODULE
 * then). The package is built the way `npm run build` builds it (same
 * tsconfig) into a copy of the package, and a plain .cjs file in it, run by
 * this Node (CI runs the suite on 22 and 24), requires every entry point by
 * the package's name (self-reference through "exports"), and cache-manager's
 * CommonJS build over the Keyv store.
 */
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runChecked } from './support/child.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** The consumer: plain CommonJS, no loader, no transpiler. */
const CONSUMER = String.raw`'use strict';
const assert = require('node:assert/strict');
const { createCache, MemoryBus, dropClosedCaches } = require('coherent-cache');
const { registerPrometheus } = require('coherent-cache/prometheus');
const { setupTelemetry } = require('coherent-cache/setup');
const { createKeyv } = require('coherent-cache/keyv');
const { Registry } = require('prom-client');
const { createCache: createCacheManager } = require('cache-manager');

async function main() {
  assert.equal(typeof setupTelemetry, 'function');
  assert.equal(typeof dropClosedCaches, 'function');
  const bus = new MemoryBus();
  const cache = createCache({ name: 'cjs', transport: bus.transport(), tracing: false });
  const peer = createCache({ name: 'cjs', transport: bus.transport(), tracing: false });
  await Promise.all([cache.ready(), peer.ready()]);
  const registry = new Registry();
  registerPrometheus(cache, { registry });
  let loads = 0;
  assert.equal(await cache.get('k', () => { loads++; return 'v1'; }), 'v1');
  assert.equal(await cache.get('k', () => { loads++; return 'unused'; }), 'v1');
  const dropped = new Promise((resolve) => cache.on('invalidated', resolve));
  await peer.invalidate('k');
  await dropped;
  assert.equal(await cache.get('k', () => { loads++; return 'v2'; }), 'v2');
  assert.equal(loads, 2);
  assert.match(await registry.metrics(), /^coherent_cache_entries\{cache="cjs"\} 1$/m);
  // cache-manager (its CommonJS build) over the Keyv store.
  const manager = createCacheManager({ stores: [createKeyv(peer)] });
  assert.equal(await manager.wrap('m', () => Promise.resolve('loaded')), 'loaded');
  assert.equal(await manager.get('m'), 'loaded');
  const droppedHere = new Promise((resolve) => cache.on('invalidated', (e) => e.key === 'm' && resolve()));
  cache.set('m', 'here');
  await manager.del('m');
  await droppedHere;
  assert.equal(cache.peek('m'), undefined);
  // require() and import() hand out the same module instance: no dual-package hazard.
  assert.equal((await import('coherent-cache')).createCache, createCache);
  await Promise.all([cache.close(), peer.close()]);
  process.stdout.write(JSON.stringify({ ok: true, node: process.version }) + '\n');
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

describe('CommonJS: require() of the built package (require(esm))', function () {
  this.timeout(120_000);
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coherent-cache-cjs-'));
    copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    // What `npm run build` emits (its tsconfig), without the type check `npm test` runs on its own.
    await runChecked(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist'), '--noCheck', '--declaration', 'false', '--sourceMap', 'false'], { timeoutMs: 100_000 });
    writeFileSync(join(dir, 'consumer.cjs'), CONSUMER);
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it(`a .cjs file requires coherent-cache, /prometheus, /setup and /keyv by name and uses createCache and cache-manager (node ${process.version})`, async () => {
    const env = { ...process.env };
    delete env['NODE_OPTIONS']; // no tsx, no loader: what a CommonJS service runs
    const { stdout } = await runChecked(process.execPath, ['consumer.cjs'], { cwd: dir, env, timeoutMs: 30_000 });
    expect(JSON.parse(stdout.trim())).to.deep.equal({ ok: true, node: process.version });
  });
});
