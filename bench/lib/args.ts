// Command-line options of bench/run.ts.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Mode } from '../groups.js';
import { DEFAULT_MODELS, RESULTS_DIR } from './paths.js';

export interface BenchOptions {
  mode: Mode;
  soak: boolean;
  soakSeconds: number;
  only?: string;
  modelsDir: string;
  resultsDir: string;
  warmupS: number;
  /** Seconds of each scenarios-table measurement (full runs). */
  durationS: number;
  /** Interleaved groups: measured rounds, and seconds per arm and round. */
  rounds: number;
  roundS: number;
  /** Seconds of the profiled interval behind the per-stage budget (0: no profile). */
  profileS: number;
  ort: boolean;
  vigilArgs: string[];
}

/** Per-mode defaults: quick keeps `npm run bench:quick` under three minutes. */
const DEFAULTS: Record<Mode, { warmupS: number; durationS: number; rounds: number; roundS: number; profileS: number; ort: boolean }> = {
  quick: { warmupS: 1, durationS: 3, rounds: 3, roundS: 2, profileS: 3, ort: false },
  targets: { warmupS: 2, durationS: 3, rounds: 5, roundS: 3, profileS: 5, ort: false },
  full: { warmupS: 3, durationS: 10, rounds: 5, roundS: 5, profileS: 5, ort: true },
};

export const USAGE = `usage: node dist/bench/run.js [options]
  --quick               issue 9's target groups, 3 rounds x 2 s per arm, and the stage budget (~2.5 minutes)
  --targets             the same groups, 5 rounds x 3 s per arm (~5.5 minutes)
  (default)             full: raw ORT ceiling, the scenarios table (every model at 1/16/64/256
                        connections, autocannon), the groups at 5 rounds x 5 s plus FastAPI and
                        v2-infer arms, the stage budget (~20 minutes)
  --only SUBSTRING      only groups (key, title, server or arm) and scenarios matching SUBSTRING
  --soak                2 minutes at 50 % of Vigil's measured peak req/s, RSS sampled every second
  --soak-seconds N      soak length (default 120)
  --warmup S            warm-up seconds per arm (a fresh server gets at least 3 s)
  --duration S          measured seconds per scenario (the scenarios table)
  --rounds N            interleaved rounds per group
  --round S             measured seconds per arm and round (whole seconds: wrk takes no fractions)
  --profile S           seconds of the profiled interval (0: no stage budget)
  --models DIR          models directory (default: the repository's models/)
  --vigil-args "ARGS"   extra flags for every Vigil server, e.g. "--workers 2"
  --no-ort              skip the raw ONNX Runtime ceiling (full runs)
  --results DIR         where <timestamp>.json/.md go (default bench/results)`;

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      targets: { type: 'boolean', default: false },
      only: { type: 'string' },
      soak: { type: 'boolean', default: false },
      'soak-seconds': { type: 'string', default: '120' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      round: { type: 'string' },
      profile: { type: 'string' },
      models: { type: 'string' },
      'vigil-args': { type: 'string', default: '' },
      'no-ort': { type: 'boolean', default: false },
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
  if (values.quick && values.targets) throw new Error('--quick and --targets are two modes: pick one');
  const mode: Mode = values.quick ? 'quick' : values.targets ? 'targets' : 'full';
  const d = DEFAULTS[mode];
  const num = (name: string, raw: string | undefined, fallback: number, allowZero = false): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!(n > 0 || (allowZero && n === 0))) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    mode,
    soak: values.soak,
    soakSeconds: num('soak-seconds', values['soak-seconds'], 120),
    only: values.only,
    modelsDir: resolve(values.models ?? DEFAULT_MODELS),
    resultsDir: resolve(values.results ?? RESULTS_DIR),
    warmupS: Math.max(1, Math.round(num('warmup', values.warmup, d.warmupS))),
    durationS: num('duration', values.duration, d.durationS),
    rounds: Math.round(num('rounds', values.rounds, d.rounds)),
    roundS: Math.max(1, Math.round(num('round', values.round, d.roundS))),
    profileS: Math.round(num('profile', values.profile, d.profileS, true)),
    ort: d.ort && !values['no-ort'] && !values.soak && !values.only,
    vigilArgs: values['vigil-args'].split(/\s+/).filter(Boolean),
  };
}
