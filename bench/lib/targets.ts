// The performance targets and the informational comparisons, each computed as a
// ratio of two measurements taken in the same run.
import { BASE_MODEL, COMPARE_CONNECTIONS, type ScenarioKey } from '../scenarios.js';
import type { Measurement } from './autocannon-run.js';
import type { Comparison, RunResults, ScenarioResult, TargetResult } from './results.js';

type Input = Pick<RunResults, 'scenarios' | 'servers' | 'soak' | 'ort' | 'mode' | 'wrk'>;

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

function m(results: ScenarioResult[], key: ScenarioKey, model?: string): Measurement | null {
  return findScenario(results, key, COMPARE_CONNECTIONS, model)?.measurement ?? null;
}

function ratioTarget(
  name: string,
  comparator: '>=' | '<=',
  threshold: number,
  top: Measurement | null,
  bottom: Measurement | null,
  pick: (x: Measurement) => number,
  what: string,
): TargetResult {
  if (!top || !bottom) {
    return { name, comparator, threshold, unit: '×', measured: null, status: 'not measured', detail: `${what}: a side was not measured` };
  }
  const a = pick(top);
  const b = pick(bottom);
  const measured = b > 0 ? a / b : null;
  return {
    name,
    comparator,
    threshold,
    unit: '×',
    measured,
    status: measured === null ? 'not measured' : verdict(measured, comparator, threshold),
    detail: `${what}: ${fmt(a)} / ${fmt(b)}`,
  };
}

function verdict(value: number, comparator: '>=' | '<=', threshold: number): 'pass' | 'miss' {
  return (comparator === '>=' ? value >= threshold : value <= threshold) ? 'pass' : 'miss';
}

function fmt(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2);
}

const rps = (x: Measurement): number => x.requestsPerSecond;
const p99 = (x: Measurement): number => x.latencyMs.p99;

export function evaluateTargets(input: Input): TargetResult[] {
  const s = input.scenarios;
  const vigil = m(s, 'vigil-predict', BASE_MODEL);
  const pinned = m(s, 'vigil-bc-v2', BASE_MODEL);
  const ceiling = m(s, 'ceiling');
  const c = COMPARE_CONNECTIONS;
  const targets: TargetResult[] = [
    ratioTarget(`/predict ${BASE_MODEL} @${c} vs uWS ceiling (req/s)`, '>=', 0.7, vigil, ceiling, rps, 'req/s vigil / ceiling'),
    ratioTarget(`/predict ${BASE_MODEL} v2 @${c} vs Fastify + ORT inline`, '>=', 4, pinned, m(s, 'peer-fastify'), rps, 'req/s vigil / fastify-ort'),
    ratioTarget(`/predict ${BASE_MODEL} v2 @${c} vs FastAPI + scikit-learn`, '>=', 40, pinned, m(s, 'peer-fastapi'), rps, 'req/s vigil / fastapi-sklearn'),
    ratioTarget(`digits batching on vs off @${c} (req/s)`, '>=', 3, m(s, 'vigil-predict', 'digits'), m(s, 'batching-off', 'digits'), rps, 'req/s on / off'),
    ratioTarget(`p99 /predict ${BASE_MODEL} @${c} vs uWS ceiling p99`, '<=', 3, vigil, ceiling, p99, 'p99 ms vigil / ceiling'),
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
  const out: Comparison[] = [];
  const ratio = (name: string, a: Measurement | null, b: Measurement | null, detail: string): void => {
    out.push({ name, value: a && b && b.requestsPerSecond > 0 ? a.requestsPerSecond / b.requestsPerSecond : null, detail });
  };
  const base = m(s, 'vigil-predict', BASE_MODEL);
  ratio('monitoring on / off (req/s)', base, m(s, 'monitoring-off'), `${BASE_MODEL} @${COMPARE_CONNECTIONS}: 1.00 = monitoring is free`);
  ratio('shadow on / off (req/s)', m(s, 'shadow-on'), base, `${BASE_MODEL} @${COMPARE_CONNECTIONS}, v2 shadowing 100 % vs the bundled split without shadow`);
  ratio('v2 infer / predict (req/s)', m(s, 'vigil-v2', BASE_MODEL), base, `${BASE_MODEL} @${COMPARE_CONNECTIONS}`);

  // The headline ratio again, both sides measured by wrk (see the autocannon vs wrk table).
  const wrkCeiling = input.wrk.find((w) => w.target.includes('ceiling'))?.wrk;
  const wrkVigil = input.wrk.find((w) => !w.target.includes('ceiling'))?.wrk;
  if (wrkCeiling || wrkVigil) {
    out.push({
      name: `/predict ${BASE_MODEL} @${COMPARE_CONNECTIONS} vs uWS ceiling, measured by wrk`,
      value: wrkCeiling && wrkVigil && wrkCeiling.requestsPerSecond > 0 ? wrkVigil.requestsPerSecond / wrkCeiling.requestsPerSecond : null,
      detail: 'wrk (C) can load the ceiling harder than one autocannon thread can',
    });
  }

  // Vigil's served rows/s against raw in-process ORT on one thread.
  const ort = input.ort?.results ?? [];
  const ortRows = (model: string, version: string, batch: number): number | null =>
    ort.find((r) => r.model === model && r.version === version && r.batch === batch)?.rowsPerSecond ?? null;
  const pairs: { scenario: Measurement | null; model: string; version: string; label: string }[] = [
    { scenario: m(s, 'vigil-bc-v2'), model: BASE_MODEL, version: '2', label: `${BASE_MODEL} v2 (pinned)` },
  ];
  for (const r of s) {
    if (r.key === 'vigil-predict' && r.connections === COMPARE_CONNECTIONS && r.model !== BASE_MODEL && r.measurement) {
      const versions = ort.filter((o) => o.model === r.model).map((o) => o.version);
      const latest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
      if (latest) pairs.push({ scenario: r.measurement, model: r.model, version: latest, label: `${r.model} v${latest}` });
    }
  }
  for (const p of pairs) {
    for (const batch of [1, 128]) {
      const rows = ortRows(p.model, p.version, batch);
      out.push({
        name: `${p.label} @${COMPARE_CONNECTIONS} / raw ORT batch ${batch} (rows/s)`,
        value: p.scenario && rows ? p.scenario.requestsPerSecond / rows : null,
        detail: rows ? `ORT ${Math.round(rows).toLocaleString('en-US')} rows/s on one thread` : 'ORT ceiling not measured',
      });
    }
  }
  return out;
}
