// The performance targets and the informational comparisons. Every ratio comes from
// an interleaved pair (bench/lib/paired.ts): both sides measured in alternating rounds with
// both servers up, ratio = median req/s A ÷ median req/s B (p99: pooled p99 A ÷ pooled p99 B).
import { BASE_MODEL, COMPARE_CONNECTIONS, type PairKey, type ScenarioKey } from '../scenarios.js';
import { spread } from './paired.js';
import type { Comparison, PairResult, RunResults, ScenarioResult, TargetResult } from './results.js';

type Input = Pick<RunResults, 'scenarios' | 'pairs' | 'servers' | 'soak' | 'ort' | 'mode' | 'wrk'>;

export function findScenario(
  results: ScenarioResult[],
  key: ScenarioKey,
  connections: number,
  model?: string,
): ScenarioResult | undefined {
  return results.find(
    (r) => r.key === key && r.connections === connections && r.status === 'ok' && (!model || r.model === model),
  );
}

export function findPair(pairs: PairResult[], key: PairKey): PairResult | undefined {
  return pairs.find((p) => p.key === key && p.connections === COMPARE_CONNECTIONS);
}

function verdict(value: number, comparator: '>=' | '<=', threshold: number): 'pass' | 'miss' {
  return (comparator === '>=' ? value >= threshold : value <= threshold) ? 'pass' : 'miss';
}

function fmt(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2);
}

/** The pair's ratio (req/s or p99) and how it was obtained, or why it is missing. */
function pairRatio(pair: PairResult | undefined, what: 'req/s' | 'p99'): { value: number | null; detail: string } {
  if (!pair) return { value: null, detail: 'pair not in this run' };
  if (pair.status !== 'ok' || !pair.a || !pair.b) return { value: null, detail: `pair ${pair.status}: ${pair.reason ?? ''}`.trim() };
  const n = `${pair.a.roundRequestsPerSecond.length} rounds × ${pair.roundS} s, interleaved`;
  if (what === 'req/s') {
    return {
      value: pair.ratio ?? null,
      detail: `median req/s ${fmt(pair.a.medianRequestsPerSecond)} / ${fmt(pair.b.medianRequestsPerSecond)}; per round ${spread(pair.roundRatios ?? [])} (${n})`,
    };
  }
  return {
    value: pair.p99Ratio ?? null,
    detail: `pooled p99 ms ${fmt(pair.a.latencyMs.p99)} / ${fmt(pair.b.latencyMs.p99)}; per round ${spread(pair.roundP99Ratios ?? [])} (${n})`,
  };
}

function ratioTarget(
  name: string,
  comparator: '>=' | '<=',
  threshold: number,
  pair: PairResult | undefined,
  what: 'req/s' | 'p99',
): TargetResult {
  const { value, detail } = pairRatio(pair, what);
  return {
    name,
    comparator,
    threshold,
    unit: '×',
    measured: value,
    status: value === null ? 'not measured' : verdict(value, comparator, threshold),
    detail,
  };
}

export function evaluateTargets(input: Input): TargetResult[] {
  const p = input.pairs;
  const c = COMPARE_CONNECTIONS;
  const targets: TargetResult[] = [
    ratioTarget(`/predict ${BASE_MODEL} @${c} vs uWS ceiling (req/s)`, '>=', 0.7, findPair(p, 'ceiling'), 'req/s'),
    ratioTarget(`/predict ${BASE_MODEL} v2 @${c} vs Fastify + ORT inline`, '>=', 4, findPair(p, 'peer-fastify'), 'req/s'),
    ratioTarget(`/predict ${BASE_MODEL} v2 @${c} vs FastAPI + scikit-learn`, '>=', 40, findPair(p, 'peer-fastapi'), 'req/s'),
    ratioTarget(`digits batching on vs off @${c} (req/s)`, '>=', 3, findPair(p, 'batching'), 'req/s'),
    ratioTarget(`p99 /predict ${BASE_MODEL} @${c} vs uWS ceiling p99`, '<=', 3, findPair(p, 'ceiling'), 'p99'),
  ];

  const vigilRss = input.servers.filter((r) => r.id.startsWith('vigil') && r.peakRssMb !== undefined);
  const peak = vigilRss.length ? Math.max(...vigilRss.map((r) => r.peakRssMb!)) : null;
  targets.push({
    name: `peak RSS of Vigil under the ${input.mode === 'full' ? 'full' : input.mode} bench`,
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

export function compare(input: Input): Comparison[] {
  const s = input.scenarios;
  const p = input.pairs;
  const out: Comparison[] = [];
  const fromPair = (name: string, key: PairKey, note: string): void => {
    const { value, detail } = pairRatio(findPair(p, key), 'req/s');
    out.push({ name, value, detail: `${note}; ${detail}` });
  };
  const at = `${BASE_MODEL} @${COMPARE_CONNECTIONS}`;
  fromPair('monitoring on / off (req/s)', 'monitoring', `${at}, 1.00 = monitoring is free`);
  fromPair('shadow on / off (req/s)', 'shadow', `${at}, v2 shadowing 100 % vs the bundled config`);
  fromPair('v2 infer / predict (req/s)', 'v2-infer', `${at}, same server`);

  // The headline ratio again, both sides measured by wrk (see the autocannon vs wrk table).
  const wrkCeiling = input.wrk.find((w) => w.target.includes('ceiling'))?.wrk;
  const wrkVigil = input.wrk.find((w) => !w.target.includes('ceiling'))?.wrk;
  if (wrkCeiling || wrkVigil) {
    const rounds = wrkCeiling && wrkVigil ? wrkVigil.rounds.map((v, i) => v / wrkCeiling.rounds[i]!) : [];
    out.push({
      name: `/predict ${BASE_MODEL} @${COMPARE_CONNECTIONS} vs uWS ceiling, measured by wrk`,
      value: wrkCeiling && wrkVigil && wrkCeiling.requestsPerSecond > 0 ? wrkVigil.requestsPerSecond / wrkCeiling.requestsPerSecond : null,
      detail: `wrk (C) can load the ceiling harder than one autocannon thread can; median req/s, per round ${spread(rounds)} (interleaved, one body)`,
    });
  }

  // Vigil's served rows/s against raw in-process ORT on one thread.
  const ort = input.ort?.results ?? [];
  const ortRows = (model: string, version: string, batch: number): number | null =>
    ort.find((r) => r.model === model && r.version === version && r.batch === batch)?.rowsPerSecond ?? null;
  // (Not interleaved: the ORT ceiling runs in its own process before the scenarios.)
  const pinned = [findPair(p, 'peer-fastify'), findPair(p, 'peer-fastapi')].find((x) => x?.status === 'ok')?.a;
  const served: { rps: number | null; model: string; version: string; label: string }[] = [
    { rps: pinned?.medianRequestsPerSecond ?? null, model: BASE_MODEL, version: '2', label: `${BASE_MODEL} v2 (pinned)` },
  ];
  for (const r of s) {
    if (r.key === 'vigil-predict' && r.connections === COMPARE_CONNECTIONS && r.model !== BASE_MODEL && r.measurement) {
      const versions = ort.filter((o) => o.model === r.model).map((o) => o.version);
      const latest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
      if (latest) served.push({ rps: r.measurement.requestsPerSecond, model: r.model, version: latest, label: `${r.model} v${latest}` });
    }
  }
  for (const x of served) {
    for (const batch of [1, 128]) {
      const rows = ortRows(x.model, x.version, batch);
      out.push({
        name: `${x.label} @${COMPARE_CONNECTIONS} / raw ORT batch ${batch} (rows/s)`,
        value: x.rps && rows ? x.rps / rows : null,
        detail: rows ? `ORT ${Math.round(rows).toLocaleString('en-US')} rows/s on one thread` : 'ORT ceiling not measured',
      });
    }
  }
  return out;
}
