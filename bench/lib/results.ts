// The data a bench run produces; written as bench/results/<timestamp>.json and rendered
// by report.ts.
import type { OrtThroughputReport } from '../../native-bench/lib/ort-report.js';
import type { GroupKey, Mode, Tool } from '../groups.js';
import type { Scenario } from '../scenarios.js';
import type { LatencyMs, Measurement } from './autocannon-run.js';
import type { Machine } from './machine.js';
import type { CpuPerRequest, CpuUsage } from './proc-cpu.js';
import type { ServerId } from './servers.js';
import type { Stage } from './stage-map.js';

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

/** One measured round of one arm. */
export interface ArmRound {
  durationS: number;
  /** Every completed response, whatever its status. */
  requests: number;
  /** 2xx responses. */
  ok: number;
  /** All responses per second. */
  requestsPerSecond: number;
  /** 2xx per second: what the targets call req/s. */
  goodput: number;
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  /** Connect/read/write errors and timeouts. */
  socketErrors: number;
  /** wrk: every response; autocannon: 2xx only. */
  latencyMs: LatencyMs;
  /** 2xx responses only (wrk when tagging, autocannon always); null when not measured. */
  admittedLatencyMs: LatencyMs | null;
  /** wrk tagging: answers without the X-Request-Id sent. */
  unmatched: number;
  /** The server's CPU over the interval, from /proc, and per completed response. */
  cpu: CpuUsage & CpuPerRequest;
  /** How long the server took to go quiet before this round (null: it never did within 5 s). */
  quietBeforeMs: number | null;
}

/** Medians over an arm's rounds. */
export interface ArmSummary {
  goodput: number;
  requestsPerSecond: number;
  processUsPerRequest: number;
  mainUsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  admittedP50Ms: number | null;
  admittedP99Ms: number | null;
}

export interface ArmResult {
  id: string;
  label: string;
  server: ServerId;
  model: string;
  tool: Tool;
  connections: number;
  rounds: ArmRound[];
  median: ArmSummary;
  /** Responses by status, all rounds together. */
  statuses: Record<string, number>;
  socketErrors: number;
}

export interface GroupResult {
  key: GroupKey;
  title: string;
  /** unsupported: an optional feature's preflight answered non-2xx (see ArmSpec.optionalFeature). */
  status: 'ok' | 'skipped' | 'failed' | 'unsupported';
  reason?: string;
  rounds: number;
  roundS: number;
  arms: ArmResult[];
}

export interface ServerRun {
  id: ServerId;
  description: string;
  status: 'ran' | 'skipped' | 'failed';
  reason?: string;
  peakRssMb?: number;
  exitCode?: number | null;
  signal?: string | null;
  /** Vigil's GET /stats after its last use (batch sizes, queue depth, ...). */
  stats?: unknown;
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
  status: 'pass' | 'miss' | 'not measured' | 'not supported';
  /** What was divided by what (medians, per-round range), or why it is not measured. */
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
  mode: Mode | 'soak';
  warmupS: number;
  /** Seconds of each scenarios-table measurement. */
  durationS: number;
  /** Interleaved groups: rounds, and seconds per arm and round. */
  rounds: number;
  roundS: number;
  machine: Machine;
  modelsDir: string;
  ort: OrtThroughputReport | null;
  scenarios: ScenarioResult[];
  groups: GroupResult[];
  stageBudget: StageBudget | null;
  servers: ServerRun[];
  soak: SoakResult | null;
  targets: TargetResult[];
  comparisons: Comparison[];
  notes: string[];
}

/** Per-stage CPU budget of a request (measured by stage-budget.ts). */
export interface StageRow {
  stage: Stage;
  samples: number;
  /** Of the thread's non-idle samples in the interval. */
  share: number;
  /** share × the unprofiled CPU µs/request (null until scaled). */
  usPerRequest: number | null;
  top: { frame: string; samples: number }[];
}

export interface ThreadBudget {
  samples: number;
  idleSamples: number;
  rows: StageRow[];
}

export interface StageBudget {
  request: string;
  connections: number;
  durationS: number;
  samplingIntervalUs: number;
  /** Responses wrk completed in the profiled interval. */
  requests: number;
  /** CPU per request of the profiled run itself (profiler overhead included). */
  profiled: { processUsPerRequest: number; mainUsPerRequest: number };
  /** The unprofiled main-thread figure the shares are scaled to, and where it comes from. */
  scaledTo: { mainUsPerRequest: number; source: string } | null;
  main: ThreadBudget;
  /** Inference worker threads, shares only. */
  workers: ThreadBudget | null;
}
