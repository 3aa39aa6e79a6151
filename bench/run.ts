/**
 * `npm run bench [-- --quick] [-- --only <scenario>[,<scenario>]]`
 *
 * Runs every scenario once, prints one table per scenario (ratios against the
 * reference the target names, PASS/MISS against the target) and writes the
 * same as JSON to bench/results/latest.json. A scenario is a module with an
 * `id` and `run(context): Promise<Section>`; add new ones to SCENARIOS.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { FULL, QUICK, type ScenarioContext } from './harness.ts';
import * as hitAsync from './hit-async.ts';
import * as hitEviction from './hit-eviction.ts';
import * as hitRatio from './hit-ratio.ts';
import * as hitSync from './hit-sync.ts';
import * as memory from './memory.ts';
import * as propagation from './propagation.ts';
import * as recovery from './recovery.ts';
import { renderMachine, renderSection, renderSummary, type Machine, type Section } from './report.ts';
import * as stampede from './stampede.ts';
import * as swr from './swr.ts';
import * as telemetry from './telemetry.ts';
import * as throughput from './throughput.ts';

interface Scenario {
  readonly id: string;
  readonly run: (context: ScenarioContext) => Promise<Section>;
}

const SCENARIOS: readonly Scenario[] = [hitSync, hitAsync, hitEviction, hitRatio, stampede, swr, memory, propagation, recovery, throughput, telemetry];
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

interface Arguments {
  readonly quick: boolean;
  readonly only: readonly string[] | undefined;
}

function parseArguments(argv: readonly string[]): Arguments {
  let quick = false;
  let only: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--quick') quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (value === undefined || value === '') throw new Error('--only needs a scenario id');
      only = [...(only ?? []), ...value.split(',').filter((part) => part !== '')];
    } else if (arg === '--help' || arg === '-h') {
      console.log(`usage: npm run bench -- [--quick] [--only <${SCENARIOS.map((s) => s.id).join('|')}>[,...]]`);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (try --help)`);
  }
  for (const id of only ?? []) {
    if (!SCENARIOS.some((scenario) => scenario.id === id)) {
      throw new Error(`unknown scenario ${id}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
    }
  }
  return { quick, only };
}

function machine(): Machine {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    totalMemoryGiB: totalmem() / 2 ** 30,
  };
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  const selected = SCENARIOS.filter((scenario) => args.only === undefined || args.only.includes(scenario.id));
  const context: ScenarioContext = {
    quick: args.quick,
    timing: args.quick ? QUICK : FULL,
    log: (line) => process.stderr.write(`… ${line}\n`),
  };
  const host = machine();
  const startedAt = new Date();
  console.log('# coherent-cache benchmarks');
  console.log(renderMachine(host));
  console.log(
    `timing: ${context.timing.samples} samples × ~${context.timing.sampleMs} ms per benchmark after ${context.timing.warmupMs} ms warm-up, median ns/op, ±MAD = median absolute deviation / median within this run${args.quick ? '\n--quick: a smoke test; too little warm-up for the numbers to be compared' : ''}`,
  );

  const sections: Section[] = [];
  for (const scenario of selected) {
    const started = performance.now();
    const section = await scenario.run(context);
    context.log(`${scenario.id}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    sections.push(section);
    console.log(`\n${renderSection(section)}`);
  }
  console.log(`\n${renderSummary(sections)}`);

  const durationS = (Date.now() - startedAt.getTime()) / 1000;
  const result = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    durationS,
    machine: host,
    options: { quick: args.quick, only: args.only ?? null, timing: context.timing },
    sections,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}latest.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${durationS.toFixed(1)} s; wrote ${file}`);
}

await main();
