/**
 * The tree shows the design, and these checks keep it so: the core is pure
 * and imports nothing outside itself; telemetry depends on the cache, never
 * the reverse; `src/` has no import cycle (type-only imports count); its top
 * level holds only the package's entry points; no file outgrows one job.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const ENTRY_POINTS = ['index.ts', 'prometheus.ts', 'setup.ts', 'keyv.ts'];
const MAX_LINES = 420;

/** Every specifier a file imports or re-exports, type-only and dynamic imports included. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|(?:^|\n)\s*import\s+'([^']+)'/g;
  for (const match of text.matchAll(pattern)) found.push((match[1] ?? match[2] ?? match[3]) as string);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

const files = sourceFiles(SRC).map((path) => relative(SRC, path));
const text = new Map(files.map((file) => [file, readFileSync(join(SRC, file), 'utf8')]));
/** Imports of each file: relative ones resolved to files under src/, others as package names. */
const imports = new Map(
  files.map((file) => [
    file,
    specifiers(text.get(file) as string).map((spec) => (spec.startsWith('.') ? relative(SRC, resolve(dirname(join(SRC, file)), spec)) : `package:${spec}`)),
  ]),
);

describe('architecture', () => {
  it('finds the imports it checks (a sanity check of the parser)', () => {
    expect(imports.get('cache/cache.ts')).to.include.members(['core/decide.ts', 'core/events.ts', 'coherence/coherence.ts']);
    expect(imports.get('index.ts')).to.include('telemetry/otel-tracing.ts');
  });

  it('the core is pure: it imports only other core files', () => {
    for (const file of files.filter((f) => f.startsWith('core/'))) {
      for (const target of imports.get(file) ?? []) expect(target, `${file} imports ${target}`).to.match(/^core\//);
    }
  });

  it('telemetry depends on the cache, never the reverse: only entry points and telemetry import telemetry/', () => {
    for (const file of files.filter((f) => !f.startsWith('telemetry/') && !ENTRY_POINTS.includes(f))) {
      for (const target of imports.get(file) ?? []) expect(target, `${file} imports ${target}`).not.to.match(/^telemetry\//);
    }
  });

  it('transports know only the transport seam and their own helpers (and the shared option checks)', () => {
    for (const file of files.filter((f) => f.startsWith('transports/'))) {
      for (const target of (imports.get(file) ?? []).filter((t) => !t.startsWith('package:'))) {
        expect(target, `${file} imports ${target}`).to.match(/^transports\/|^cache\/(errors|validate)\.ts$/);
      }
    }
  });

  it("adapters (the Keyv store) use the cache's public surface only, and only entry points import them", () => {
    for (const file of files.filter((f) => f.startsWith('adapters/'))) {
      for (const target of (imports.get(file) ?? []).filter((t) => !t.startsWith('package:'))) {
        expect(target, `${file} imports ${target}`).to.match(/^adapters\/|^cache\/(cache|errors)\.ts$|^core\/events\.ts$/);
      }
    }
    for (const file of files.filter((f) => !f.startsWith('adapters/') && !ENTRY_POINTS.includes(f))) {
      for (const target of imports.get(file) ?? []) expect(target, `${file} imports ${target}`).not.to.match(/^adapters\//);
    }
  });

  it('src/ has no import cycle, counting type-only imports', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const target of imports.get(file) ?? []) if (text.has(target)) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).to.deep.equal([]);
  });

  it('the top level of src/ holds only the entry points, and every other file sits in its folder', () => {
    expect(files.filter((file) => !file.includes('/')).sort()).to.deep.equal([...ENTRY_POINTS].sort());
    const folders = new Set(files.filter((file) => file.includes('/')).map((file) => file.split('/')[0]));
    expect([...folders].sort()).to.deep.equal(['adapters', 'cache', 'coherence', 'core', 'projections', 'protocol', 'telemetry', 'transports']);
  });

  it(`no file is over ${MAX_LINES} lines`, () => {
    for (const [file, content] of text) expect(content.split('\n').length, file).to.be.at.most(MAX_LINES);
  });
});
