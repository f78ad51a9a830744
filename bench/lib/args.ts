// Command-line options of bench/run.ts.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Mode } from '../scenarios.js';
import { DEFAULT_MODELS, RESULTS_DIR } from './paths.js';

export interface BenchOptions {
  mode: Mode;
  /** --wrk-check: only the ceiling and Vigil's headline scenario, each also measured by wrk. */
  wrkCheckOnly: boolean;
  /** Run the wrk cross-check as part of the run (default in full mode). */
  wrk: boolean;
  soak: boolean;
  soakSeconds: number;
  only?: string;
  modelsDir: string;
  resultsDir: string;
  warmupS: number;
  durationS: number;
  /** Interleaved pairs: measured rounds, and seconds per side and round. */
  rounds: number;
  roundS: number;
  ort: boolean;
  vigilArgs: string[];
}

export const USAGE = `usage: node dist/bench/run.js [options]
  --quick               every model's /predict @64 only, 1 s warm-up + 3 s measure; pairs 2 rounds x 2 s (< 2 minutes)
  (default)             full: every model at 1/16/64/256 connections, 3 s + 10 s each;
                        pairs 5 rounds x 5 s; wrk check (~15 minutes)
  --only SUBSTRING      only scenarios whose "name @connections" or server id contains SUBSTRING
  --wrk-check           only the ceiling and vigil /predict breast-cancer @64, by autocannon and by wrk, interleaved
  --soak                2 minutes at 50 % of Vigil's measured peak req/s, RSS sampled every second
  --soak-seconds N      soak length (default 120)
  --warmup S            warm-up seconds per scenario and per side of a pair
  --duration S          measured seconds per scenario (the scenarios table)
  --rounds N            interleaved rounds per pair (quick 2, full 5)
  --round S             measured seconds per side and round of a pair (quick 2, full 5)
  --models DIR          models directory (default: the repository's models/)
  --vigil-args "ARGS"   extra flags for every Vigil server, e.g. "--workers 2"
  --no-ort              skip the raw ONNX Runtime ceiling
  --no-wrk              skip the wrk cross-check in full mode
  --results DIR         where <timestamp>.json/.md go (default bench/results)`;

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'wrk-check': { type: 'boolean', default: false },
      soak: { type: 'boolean', default: false },
      'soak-seconds': { type: 'string', default: '120' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      round: { type: 'string' },
      models: { type: 'string' },
      'vigil-args': { type: 'string', default: '' },
      'no-ort': { type: 'boolean', default: false },
      'no-wrk': { type: 'boolean', default: false },
      results: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const mode: Mode = values.quick ? 'quick' : 'full';
  const num = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!(n > 0)) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    mode,
    wrkCheckOnly: values['wrk-check'],
    wrk: values['wrk-check'] || (mode === 'full' && !values['no-wrk'] && !values.only && !values.soak),
    soak: values.soak,
    soakSeconds: num('soak-seconds', values['soak-seconds'], 120),
    only: values.only,
    modelsDir: resolve(values.models ?? DEFAULT_MODELS),
    resultsDir: resolve(values.results ?? RESULTS_DIR),
    warmupS: num('warmup', values.warmup, mode === 'quick' ? 1 : 3),
    durationS: num('duration', values.duration, mode === 'quick' ? 3 : 10),
    rounds: Math.round(num('rounds', values.rounds, mode === 'quick' ? 2 : 5)),
    roundS: num('round', values.round, mode === 'quick' ? 2 : 5),
    ort: !values['no-ort'] && !values['wrk-check'] && !values.soak,
    vigilArgs: values['vigil-args'].split(/\s+/).filter(Boolean),
  };
}
