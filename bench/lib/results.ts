// The data a bench run produces; written as bench/results/<timestamp>.json and rendered
// by report.ts.
import type { OrtThroughputReport } from '../../native-bench/lib/ort-report.js';
import type { Mode, PairKey, Scenario } from '../scenarios.js';
import type { Measurement } from './autocannon-run.js';
import type { ServerId } from './servers.js';
import type { Machine } from './machine.js';

export interface ScenarioResult {
  name: string;
  key: Scenario['key'];
  server: ServerId;
  model: string;
  connections: number;
  status: 'ok' | 'skipped' | 'failed';
  /** Why skipped or failed. */
  reason?: string;
  measurement?: Measurement;
}

/** One side of an interleaved pair. */
export interface PairSideResult {
  name: string;
  server: ServerId;
  model: string;
  /** req/s (2xx) of each measured round, in round order. */
  roundRequestsPerSecond: number[];
  /** Median of roundRequestsPerSecond. */
  medianRequestsPerSecond: number;
  /** Latency of every 2xx response of every measured round, pooled into one histogram. */
  latencyMs: Measurement['latencyMs'];
  ok: number;
  errors: number;
  /** Every round's full measurement. */
  rounds: Measurement[];
}

/** Two loads measured interleaved (A, B, B, A, ...), both servers running throughout. */
export interface PairResult {
  key: PairKey;
  name: string;
  connections: number;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  rounds: number;
  roundS: number;
  a?: PairSideResult;
  b?: PairSideResult;
  /** median req/s A ÷ median req/s B. */
  ratio?: number | null;
  /** req/s A ÷ req/s B within each round. */
  roundRatios?: number[];
  /** pooled p99 A ÷ pooled p99 B. */
  p99Ratio?: number | null;
  /** p99 A ÷ p99 B within each round. */
  roundP99Ratios?: number[];
}

export interface ServerRun {
  id: ServerId;
  description: string;
  status: 'ran' | 'skipped' | 'failed';
  reason?: string;
  peakRssMb?: number;
  exitCode?: number | null;
  signal?: string | null;
  /** Vigil's GET /stats after its scenarios (batch sizes, queue depth, ...). */
  stats?: unknown;
}

/**
 * One server measured by both tools. The wrk check interleaves autocannon and wrk on the
 * ceiling and on Vigil in rounds; req/s are medians over the rounds, p50/p99 the medians of
 * each round's percentiles (wrk only reports percentiles).
 */
export interface WrkToolResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** req/s of each round. */
  rounds: number[];
}

export interface WrkComparison {
  target: string;
  connections: number;
  /** Seconds per round and tool. */
  durationS: number;
  autocannon: WrkToolResult;
  wrk: WrkToolResult | null;
  /** median autocannon req/s ÷ median wrk req/s. */
  ratio: number | null;
  note?: string;
}

export interface SoakResult {
  durationS: number;
  peakRequestsPerSecond: number;
  targetRate: number;
  achieved: Measurement;
  rssSamples: { t: number; rssKb: number }[];
  rssAtMinute1Mb: number;
  rssAtEndMb: number;
  growthPercent: number;
  peakRssMb: number;
  /** How the server ended after SIGTERM. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface TargetResult {
  name: string;
  comparator: '>=' | '<=';
  threshold: number;
  unit: '×' | 'MB' | '%';
  measured: number | null;
  status: 'pass' | 'miss' | 'not measured';
  /** What was divided by what, or why it is not measured. */
  detail: string;
}

export interface Comparison {
  name: string;
  value: number | null;
  detail: string;
}

export interface RunResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  mode: Mode | 'wrk-check' | 'soak';
  warmupS: number;
  /** Seconds of each scenarios-table measurement. */
  durationS: number;
  /** Interleaved pairs: rounds, and seconds per side and round. */
  rounds: number;
  roundS: number;
  machine: Machine;
  modelsDir: string;
  ort: OrtThroughputReport | null;
  scenarios: ScenarioResult[];
  pairs: PairResult[];
  servers: ServerRun[];
  wrk: WrkComparison[];
  soak: SoakResult | null;
  targets: TargetResult[];
  comparisons: Comparison[];
  notes: string[];
}
