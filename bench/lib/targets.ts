// Issue 9's targets and the informational comparisons, read from the interleaved groups.
// Every ratio divides two arms of one group: median over the rounds of A ÷ median of B, with
// the per-round ratios A_i ÷ B_i (measured seconds apart) as the range beside it.
import { BASE_MODEL, type GroupKey } from '../groups.js';
import { median, spread } from './interleave.js';
import type { ArmResult, ArmRound, Comparison, GroupResult, RunResults, TargetResult } from './results.js';

type Input = Pick<RunResults, 'groups' | 'servers' | 'soak' | 'ort' | 'mode'>;

interface Metric {
  /** How the "how" column names it, e.g. "2xx/s". */
  name: string;
  of: (r: ArmRound) => number | null | undefined;
}

const GOODPUT: Metric = { name: '2xx/s', of: (r) => r.goodput };
const CPU_PROCESS: Metric = { name: 'CPU µs/request (process)', of: (r) => r.cpu.processUsPerRequest };
const CPU_MAIN: Metric = { name: 'CPU µs/request (main thread)', of: (r) => r.cpu.mainUsPerRequest };
const P50: Metric = { name: 'p50 ms', of: (r) => r.latencyMs.p50 };
const P99: Metric = { name: 'p99 ms', of: (r) => r.latencyMs.p99 };
const ADMITTED_P99: Metric = { name: 'admitted (2xx) p99 ms', of: (r) => r.admittedLatencyMs?.p99 };

interface Ratio {
  value: number | null;
  detail: string;
  unsupported?: boolean;
  /** The group or arm is not part of this run (a mode or --only left it out). */
  absent?: boolean;
}

const fmt = (x: number): string => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 1 ? x.toFixed(1) : x.toFixed(3));

export function findGroup(groups: GroupResult[], key: GroupKey): GroupResult | undefined {
  return groups.find((g) => g.key === key);
}

function values(arm: ArmResult, metric: Metric): number[] {
  return arm.rounds.map((r) => metric.of(r) ?? NaN);
}

/** median(metric of A) ÷ median(metric of B) within one group, and how it was obtained. */
function armRatio(groups: GroupResult[], key: GroupKey, aId: string, bId: string, metric: Metric): Ratio {
  const g = findGroup(groups, key);
  if (!g) return { value: null, detail: `group ${key} not in this run`, absent: true };
  if (g.status !== 'ok') return { value: null, detail: `${g.status}: ${g.reason ?? ''}`.trim(), unsupported: g.status === 'unsupported' };
  const a = g.arms.find((x) => x.id === aId);
  const b = g.arms.find((x) => x.id === bId);
  if (!a || !b) return { value: null, detail: `arm ${a ? bId : aId} not in group ${key}`, absent: true };
  const av = values(a, metric);
  const bv = values(b, metric);
  const ma = median(av);
  const mb = median(bv);
  const perRound = av.map((x, i) => x / bv[i]!).filter(Number.isFinite);
  const value = Number.isFinite(ma) && Number.isFinite(mb) && mb > 0 ? ma / mb : null;
  return {
    value,
    detail: `${metric.name} ${Number.isFinite(ma) ? fmt(ma) : '—'} / ${Number.isFinite(mb) ? fmt(mb) : '—'}; per round ${spread(perRound)} (${a.rounds.length} rounds × ${g.roundS} s, ${a.tool})`,
  };
}

function verdict(value: number, comparator: '>=' | '<=', threshold: number): 'pass' | 'miss' {
  return (comparator === '>=' ? value >= threshold : value <= threshold) ? 'pass' : 'miss';
}

function target(name: string, comparator: '>=' | '<=', threshold: number, r: Ratio, extra = ''): TargetResult | null {
  if (r.absent) return null; // --only or --soak left its group out
  return {
    name,
    comparator,
    threshold,
    unit: '×',
    measured: r.value,
    status: r.unsupported ? 'not supported' : r.value === null ? 'not measured' : verdict(r.value, comparator, threshold),
    detail: r.detail + extra,
  };
}

export function evaluateTargets(input: Input): TargetResult[] {
  const g = input.groups;
  const mainCpu = armRatio(g, 'headline', 'vigil', 'json-echo', CPU_MAIN);
  const mainCpuMonitoring = armRatio(g, 'features', 'default', 'no-monitoring', CPU_MAIN);
  const ratios: (TargetResult | null)[] = [
    target('@64 /predict req/s ÷ JSON echo (wrk)', '>=', 0.75, armRatio(g, 'headline', 'vigil', 'json-echo', GOODPUT)),
    target('@64 /predict req/s ÷ Fastify + ORT inline (wrk)', '>=', 2.3, armRatio(g, 'headline', 'vigil', 'fastify', GOODPUT)),
    target('@64 CPU µs/request ÷ JSON echo (whole process)', '<=', 1.3, armRatio(g, 'headline', 'vigil', 'json-echo', CPU_PROCESS),
      mainCpu.value === null ? '' : `; main thread ${mainCpu.value.toFixed(2)}×`),
    target('@64 p99 ÷ JSON echo p99 (wrk)', '<=', 1.5, armRatio(g, 'headline', 'vigil', 'json-echo', P99)),
    target('@1 p50 ÷ Fastify + ORT p50 (wrk)', '<=', 1, armRatio(g, 'single', 'vigil', 'fastify', P50)),
    target('overload goodput (2xx/s) @256 ÷ @16, 64-row requests', '>=', 0.8, armRatio(g, 'overload', 'c256', 'c16', GOODPUT)),
    target('overload admitted p99 @256 ÷ @16', '<=', 4, armRatio(g, 'overload', 'c256', 'c16', ADMITTED_P99)),
    target('monitoring on ÷ off, CPU µs/request (whole process)', '<=', 1.03, armRatio(g, 'features', 'default', 'no-monitoring', CPU_PROCESS),
      mainCpuMonitoring.value === null ? '' : `; main thread ${mainCpuMonitoring.value.toFixed(3)}×`),
    target('shadow v2 100 % ÷ no shadow, req/s', '>=', 0.85, armRatio(g, 'features', 'shadow', 'default', GOODPUT)),
    target('digits batching on ÷ off, req/s', '>=', 3, armRatio(g, 'batching', 'on', 'off', GOODPUT)),
    target('digits v2 binary ÷ JSON, 64 rows per request, req/s', '>=', 2, armRatio(g, 'binary', 'binary', 'json', GOODPUT)),
  ];
  const targets = ratios.filter((t): t is TargetResult => t !== null);

  const vigilRss = input.servers.filter((r) => r.id.startsWith('vigil') && r.peakRssMb !== undefined);
  const peak = vigilRss.length ? Math.max(...vigilRss.map((r) => r.peakRssMb!)) : null;
  targets.push({
    name: `peak RSS of Vigil under the ${input.mode} bench`,
    comparator: '<=',
    threshold: 300,
    unit: 'MB',
    measured: peak,
    status: peak === null ? 'not measured' : verdict(peak, '<=', 300),
    detail: peak === null ? 'no Vigil server ran' : `max VmHWM over ${vigilRss.map((r) => r.id).join(', ')}`,
  });
  const soak = input.soak;
  targets.push({
    name: 'RSS growth, minute 1 to end of a 2-minute run at 50 % of peak',
    comparator: '<=',
    threshold: 5,
    unit: '%',
    measured: soak ? soak.growthPercent : null,
    status: soak ? verdict(soak.growthPercent, '<=', 5) : 'not measured',
    detail: soak
      ? `${soak.rssAtMinute1Mb.toFixed(1)} MB at ${Math.round(soak.durationS / 2)} s -> ${soak.rssAtEndMb.toFixed(1)} MB at ${soak.durationS} s, ${Math.round(soak.targetRate)} req/s offered`
      : 'run with --soak',
  });
  return targets;
}

/** Non-2xx answers of an arm, e.g. "8,123 × 503, 2 × 500". */
function otherStatuses(arm: ArmResult): string {
  const parts = Object.entries(arm.statuses)
    .filter(([code]) => !code.startsWith('2'))
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${n.toLocaleString('en-US')} × ${code}`);
  if (arm.socketErrors) parts.push(`${arm.socketErrors} socket errors/timeouts`);
  return parts.join(', ') || 'none';
}

export function compare(input: Input): Comparison[] {
  const g = input.groups;
  const out: Comparison[] = [];
  const add = (name: string, r: Ratio, note = ''): void => {
    if (r.absent) return;
    out.push({ name, value: r.value, detail: note ? `${note}; ${r.detail}` : r.detail });
  };
  add('@64 /predict req/s ÷ JSON echo, by autocannon', armRatio(g, 'headline', 'vigil-autocannon', 'json-echo-autocannon', GOODPUT),
    'one autocannon thread saturates before the echo does');
  add('@64 /predict req/s ÷ bare echo (wrk)', armRatio(g, 'headline', 'vigil', 'bare-echo', GOODPUT));
  add('@64 JSON echo ÷ bare echo req/s (wrk)', armRatio(g, 'headline', 'json-echo', 'bare-echo', GOODPUT), 'what JSON.parse costs the baseline');
  add('@64 JSON echo: autocannon ÷ wrk req/s', armRatio(g, 'headline', 'json-echo-autocannon', 'json-echo', GOODPUT), 'below 1: autocannon is the bottleneck');
  add('@64 CPU µs/request ÷ JSON echo (main thread)', armRatio(g, 'headline', 'vigil', 'json-echo', CPU_MAIN));
  // The gateway floor (native-bench/gateway-floor.ts): the architecture without the features.
  add('@64 gateway floor req/s ÷ JSON echo (wrk)', armRatio(g, 'headline', 'floor', 'json-echo', GOODPUT),
    'the same hand-off with none of Vigil\'s features, against the 0.75× target');
  add('@64 gateway floor CPU µs/request ÷ JSON echo (whole process)', armRatio(g, 'headline', 'floor', 'json-echo', CPU_PROCESS),
    'against the 1.3× target');
  add('@64 /predict req/s ÷ gateway floor (wrk)', armRatio(g, 'headline', 'vigil', 'floor', GOODPUT), 'what Vigil\'s features cost in throughput');
  add('@64 CPU µs/request ÷ gateway floor (whole process)', armRatio(g, 'headline', 'vigil', 'floor', CPU_PROCESS));
  add('@64 CPU µs/request ÷ gateway floor (main thread)', armRatio(g, 'headline', 'vigil', 'floor', CPU_MAIN));
  add('@64 CPU µs/request ÷ Fastify + ORT (whole process)', armRatio(g, 'headline', 'vigil', 'fastify', CPU_PROCESS));
  add('@64 /predict req/s ÷ FastAPI + scikit-learn (wrk)', armRatio(g, 'headline', 'vigil', 'fastapi', GOODPUT));
  add('@1 p50 ÷ JSON echo p50', armRatio(g, 'single', 'vigil', 'json-echo', P50));
  add('monitoring on ÷ off, req/s', armRatio(g, 'features', 'default', 'no-monitoring', GOODPUT), 'too noisy here to resolve 3 %');
  add('shadow v2 100 % ÷ no shadow, CPU µs/request (whole process)', armRatio(g, 'features', 'shadow', 'default', CPU_PROCESS));
  const mirrored = mirroredShare(input.servers.find((s) => s.id === 'vigil-shadow-on')?.stats);
  if (mirrored) out.push({ name: 'shadow v2 100 %: mirrors answered ÷ requests v1 answered', value: mirrored.share, detail: mirrored.detail });
  add('overload CPU µs/response @256 ÷ @16 (whole process)', armRatio(g, 'overload', 'c256', 'c16', CPU_PROCESS),
    'above 1: answering (or rejecting) costs more per response past capacity');
  add('v2 infer ÷ /predict req/s', armRatio(g, 'protocols', 'v2', 'predict', GOODPUT));

  const overload = findGroup(g, 'overload');
  if (overload?.status === 'ok') {
    for (const arm of overload.arms) {
      out.push({
        name: `overload @${arm.connections}: answers other than 2xx`,
        value: null,
        detail: `${otherStatuses(arm)} over ${arm.rounds.length} rounds; admitted p50/p99 ${fmtMs(arm.median.admittedP50Ms)} / ${fmtMs(arm.median.admittedP99Ms)} ms`,
      });
    }
  }

  // Vigil's served rows/s against raw in-process ORT on one thread (not interleaved: the ORT
  // ceiling runs in its own process before everything else).
  const ort = input.ort?.results ?? [];
  const vigil = findGroup(g, 'headline')?.arms.find((a) => a.id === 'vigil');
  for (const batch of [1, 128]) {
    const rows = ort.find((r) => r.model === BASE_MODEL && r.version === '2' && r.batch === batch)?.rowsPerSecond;
    if (!rows || !vigil) continue;
    out.push({
      name: `${BASE_MODEL} v2 @64 / raw ORT batch ${batch} (rows/s)`,
      value: vigil.median.goodput / rows,
      detail: `ORT ${Math.round(rows).toLocaleString('en-US')} rows/s on one thread`,
    });
  }
  return out;
}

function fmtMs(x: number | null): string {
  return x === null ? '—' : x.toFixed(x >= 10 ? 0 : 2);
}

/**
 * How much of "shadow 100 %" was mirrored, over the shadowed server's whole life: the shadow
 * answers ÷ the live answers of the versions it mirrors. Below 1 when the shadow queue was
 * full: mirrors are dropped rather than delay live traffic, so the arm's cost is that of
 * mirroring this share, not every request.
 */
function mirroredShare(stats: unknown): { share: number; detail: string } | null {
  type RoleStats = { requests?: number };
  type ModelStats = { traffic?: { shadow?: { version?: string } }; versions?: Record<string, { roles?: Record<string, RoleStats> }> };
  const model = (stats as { models?: Record<string, ModelStats> } | undefined)?.models?.[BASE_MODEL];
  const shadowVersion = model?.traffic?.shadow?.version;
  if (!model?.versions || shadowVersion === undefined) return null;
  let mirrors = 0;
  let live = 0;
  for (const [version, { roles }] of Object.entries(model.versions)) {
    mirrors += roles?.shadow?.requests ?? 0;
    if (version !== shadowVersion) live += roles?.live?.requests ?? 0;
  }
  if (live === 0) return null;
  return {
    share: mirrors / live,
    detail: `the rest were dropped for a full shadow queue (shadow never delays live) or failed; ${mirrors.toLocaleString('en-US')} / ${live.toLocaleString('en-US')} over the server's life, warm-ups included`,
  };
}
