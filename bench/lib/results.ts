// The data a bench run produces; written as bench/results/<timestamp>.json and rendered
// by report.ts.
import type { OrtThroughputReport } from '../../native-bench/lib/ort-report.js';
import type { Mode, Scenario } from '../scenarios.js';
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

export interface WrkComparison {
  target: string;
  connections: number;
  durationS: number;
  autocannon: { requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number };
  wrk: { requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number } | null;
  /** autocannon req/s ÷ wrk req/s. */
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
  durationS: number;
  machine: Machine;
  modelsDir: string;
  ort: OrtThroughputReport | null;
  scenarios: ScenarioResult[];
  servers: ServerRun[];
  wrk: WrkComparison[];
  soak: SoakResult | null;
  targets: TargetResult[];
  comparisons: Comparison[];
  notes: string[];
}
