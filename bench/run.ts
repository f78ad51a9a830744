// The bench harness: Vigil against its HTTP baselines and its peers, in one run.
//
//   node dist/bench/run.js --quick     issue 9's targets, interleaved, < 3 minutes
//   node dist/bench/run.js --targets   the same, more rounds
//   node dist/bench/run.js             full run (~20 min)
//   node dist/bench/run.js --help      every option
//
// Writes bench/results/<timestamp>.json and .md. See bench/README.md.
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { planGroups, type ArmSpec } from './groups.js';
import { parseBenchArgs, USAGE, type BenchOptions } from './lib/args.js';
import { executePlan } from './lib/execute.js';
import { describeMachine } from './lib/machine.js';
import { measureOrtCeiling } from './lib/ort-ceiling.js';
import { REPO_ROOT, VIGIL_MAIN } from './lib/paths.js';
import { formatConsole, writeResults } from './lib/report.js';
import type { RunResults } from './lib/results.js';
import { bundledShadow, serverSpecs } from './lib/servers.js';
import { runSoak } from './lib/soak.js';
import { measureStageBudget, scaleBudget } from './lib/stage-budget.js';
import { compare, evaluateTargets, findGroup } from './lib/targets.js';
import { wrkAvailable } from './lib/wrk.js';
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
  const ctx = { modelsDir: opts.modelsDir, vigilArgs: opts.vigilArgs };
  const specs = serverSpecs(ctx);
  const results: RunResults = {
    startedAt: started.toISOString(),
    finishedAt: '',
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    mode: opts.soak ? 'soak' : opts.mode,
    warmupS: opts.warmupS,
    durationS: opts.durationS,
    rounds: opts.rounds,
    roundS: opts.roundS,
    machine: describeMachine(),
    modelsDir: opts.modelsDir,
    ort: null,
    scenarios: [],
    groups: [],
    stageBudget: null,
    servers: [],
    soak: null,
    targets: [],
    comparisons: [],
    notes: [],
  };
  const m = results.machine;
  log(`vigil bench (${results.mode}): ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node}, load ${m.loadAverage.map((x) => x.toFixed(2)).join(' ')}`);
  log(`models: ${opts.modelsDir}`);
  const note = (line: string): void => {
    log(line);
    results.notes.push(line);
  };
  if (!existsSync(VIGIL_MAIN)) note(`Vigil skipped: ${relative(REPO_ROOT, VIGIL_MAIN)} does not exist (build the server first)`);

  if (opts.soak) {
    const spec = specs.get('vigil')!;
    results.soak = await runSoak(spec, { modelsDir: opts.modelsDir, seconds: opts.soakSeconds, warmupS: opts.warmupS, peakS: opts.durationS, log });
    results.servers.push({
      id: spec.id, description: spec.description, status: 'ran', peakRssMb: results.soak.peakRssMb,
      exitCode: results.soak.exitCode, signal: results.soak.signal,
    });
  } else {
    if (!(await wrkAvailable())) {
      console.error('wrk is not installed (Debian package wrk): it is the bench’s primary load generator');
      process.exit(2);
    }
    const groupPlan = planGroups(opts.mode, opts.modelsDir, opts.only);
    const scenarioPlan = opts.mode === 'full' ? planScenarios(opts.modelsDir, opts.only) : { scenarios: [], skipped: [] };
    for (const s of [...groupPlan.skipped, ...scenarioPlan.skipped]) note(`SKIP ${s}`);

    if (opts.ort) {
      log('measuring the inference ceiling (raw ONNX Runtime, 1 s per model and batch size)…');
      try {
        results.ort = await measureOrtCeiling(opts.modelsDir, 1);
        for (const s of results.ort.skipped) results.notes.push(`ORT ceiling skipped ${s}`);
      } catch (err) {
        note(`ORT ceiling not measured: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    const shadow = bundledShadow(opts.modelsDir);
    if (shadow !== null) {
      results.notes.push(`the bundled breast-cancer config already has a shadow (${JSON.stringify(shadow)}): "shadow on / off" compares two shadowed setups`);
    }

    log(
      `${scenarioPlan.scenarios.length} scenarios, ${groupPlan.groups.length} interleaved groups ` +
        `(${opts.warmupS} s warm-up per arm, then ${opts.rounds} rounds × ${opts.roundS} s per arm)` +
        (opts.profileS ? `, then ${opts.profileS} s under the CPU profiler` : ''),
    );
    const executed = await executePlan({ scenarios: scenarioPlan.scenarios, groups: groupPlan.groups }, specs, { ...opts, log });
    results.scenarios = executed.scenarios;
    results.groups = executed.groups;
    results.servers = executed.servers;
    results.notes.push(...executed.notes);

    const headline = groupPlan.groups.find((g) => g.key === 'headline')?.arms.find((a): a is ArmSpec => a.id === 'vigil');
    if (opts.profileS > 0 && headline) {
      log(`stage budget: ${headline.label} @${headline.connections} under node --cpu-prof for ${opts.profileS} s…`);
      const run = await measureStageBudget(ctx, headline, { warmupS: opts.warmupS, durationS: opts.profileS, log });
      if (run.server) results.servers.push(run.server);
      for (const n of run.notes) note(n);
      const unprofiled = findGroup(results.groups, 'headline')?.arms.find((a) => a.id === 'vigil');
      results.stageBudget =
        run.budget && unprofiled
          ? scaleBudget(run.budget, unprofiled.median.mainUsPerRequest, 'the headline group’s Vigil arm, median over its rounds')
          : run.budget;
    }
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
