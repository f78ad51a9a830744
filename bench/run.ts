// The bench harness: ceilings, Vigil and peers side by side in one run, one table.
//
//   node dist/bench/run.js            full run (~15 min)
//   node dist/bench/run.js --quick    under 2 minutes
//   node dist/bench/run.js --help     every option
//
// Writes bench/results/<timestamp>.json and .md. See bench/README.md.
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { parseBenchArgs, USAGE, type BenchOptions } from './lib/args.js';
import { executePlan, wrkCheckPair } from './lib/execute.js';
import { describeMachine } from './lib/machine.js';
import { measureOrtCeiling } from './lib/ort-ceiling.js';
import { REPO_ROOT, VIGIL_MAIN } from './lib/paths.js';
import { formatConsole, writeResults } from './lib/report.js';
import type { RunResults } from './lib/results.js';
import { bundledShadow, serverSpecs } from './lib/servers.js';
import { runSoak } from './lib/soak.js';
import { compare, evaluateTargets } from './lib/targets.js';
import { planScenarios } from './scenarios.js';

const log = (line: string): void => console.log(line);

async function main(): Promise<void> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const started = new Date();
  const specs = serverSpecs({ modelsDir: opts.modelsDir, vigilArgs: opts.vigilArgs });
  const results: RunResults = {
    startedAt: started.toISOString(),
    finishedAt: '',
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    mode: opts.soak ? 'soak' : opts.wrkCheckOnly ? 'wrk-check' : opts.mode,
    warmupS: opts.warmupS,
    durationS: opts.durationS,
    rounds: opts.rounds,
    roundS: opts.roundS,
    machine: describeMachine(),
    modelsDir: opts.modelsDir,
    ort: null,
    scenarios: [],
    pairs: [],
    servers: [],
    wrk: [],
    soak: null,
    targets: [],
    comparisons: [],
    notes: [],
  };
  const m = results.machine;
  log(`vigil bench (${results.mode}): ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node}`);
  log(`models: ${opts.modelsDir}`);
  if (!existsSync(VIGIL_MAIN)) {
    const line = `Vigil scenarios skipped: ${relative(REPO_ROOT, VIGIL_MAIN)} does not exist (build the server first)`;
    log(line);
    results.notes.push(line);
  }

  if (opts.soak) {
    results.soak = await runSoak(specs.get('vigil')!, {
      modelsDir: opts.modelsDir,
      seconds: opts.soakSeconds,
      warmupS: opts.warmupS,
      peakS: opts.durationS,
      log,
    });
    const spec = specs.get('vigil')!;
    results.servers.push({
      id: spec.id, description: spec.description, status: 'ran', peakRssMb: results.soak.peakRssMb,
      exitCode: results.soak.exitCode, signal: results.soak.signal,
    });
  } else {
    const plan = planScenarios(opts.mode, opts.modelsDir, opts.only);
    for (const s of plan.skipped) {
      log(`SKIP ${s}`);
      results.notes.push(`skipped ${s}`);
    }
    // --wrk-check: only the wrk cross-check of the ceiling pair (autocannon and wrk interleaved).
    const wrkPair = opts.wrk ? wrkCheckPair(plan.pairs) : undefined;
    if (opts.wrk && !wrkPair) results.notes.push('wrk cross-check skipped: the ceiling pair is not in this run');
    const scenarios = opts.wrkCheckOnly ? [] : plan.scenarios;
    const pairs = opts.wrkCheckOnly ? [] : plan.pairs;

    if (opts.ort && !opts.only) {
      const seconds = opts.mode === 'quick' ? 0.25 : 1;
      log(`measuring the inference ceiling (raw ONNX Runtime, ${seconds} s per model and batch size)…`);
      try {
        results.ort = await measureOrtCeiling(opts.modelsDir, seconds);
        for (const s of results.ort.skipped) results.notes.push(`ORT ceiling skipped ${s}`);
      } catch (err) {
        const line = `ORT ceiling not measured: ${(err as Error).message.split('\n')[0]}`;
        log(line);
        results.notes.push(line);
      }
    }

    const shadow = bundledShadow(opts.modelsDir);
    if (shadow !== null) {
      results.notes.push(
        `the bundled breast-cancer config already has a shadow (${JSON.stringify(shadow)}): "shadow on / off" compares two shadowed setups`,
      );
    }

    log(
      `${scenarios.length} scenarios (${opts.warmupS} s warm-up + ${opts.durationS} s measure each), ` +
        `${pairs.length} interleaved pairs (${opts.warmupS} s warm-up per side, then ${opts.rounds} rounds × ${opts.roundS} s per side)` +
        (wrkPair ? ', wrk cross-check' : ''),
    );
    const executed = await executePlan({ scenarios, pairs, wrkPair }, specs, {
      warmupS: opts.warmupS,
      durationS: opts.durationS,
      rounds: opts.rounds,
      roundS: opts.roundS,
      log,
    });
    results.scenarios = executed.scenarios;
    results.pairs = executed.pairs;
    results.servers = executed.servers;
    results.wrk = executed.wrk;
    results.notes.push(...executed.notes);
  }

  results.targets = evaluateTargets(results);
  results.comparisons = compare(results);
  results.finishedAt = new Date().toISOString();
  console.log(formatConsole(results));
  const files = writeResults(results, opts.resultsDir);
  const seconds = (Date.now() - started.getTime()) / 1000;
  log(`\nwrote ${relative(process.cwd(), files.json)} and ${relative(process.cwd(), files.md)} (${seconds.toFixed(0)} s)`);
}

process.on('SIGINT', () => process.exit(130)); // the 'exit' hook in spawn-server kills children

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
