// Renders a run: the one results table (terminal and markdown), targets, comparisons,
// memory, the wrk cross-check and the soak; writes bench/results/<timestamp>.{json,md}.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatOrtTable } from '../../native-bench/lib/ort-report.js';
import { spread } from './paired.js';
import type { PairResult, RunResults, ScenarioResult, TargetResult } from './results.js';
import { findScenario } from './targets.js';

type Align = 'l' | 'r';

function renderText(header: string[], rows: string[][], align: Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function renderMarkdown(header: string[], rows: string[][], align: Align[]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? '---:' : ':---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const times = (x: number | null): string =>
  x === null ? '' : `${x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}×`;

function ratioTo(r: ScenarioResult, other: ScenarioResult | undefined): number | null {
  const a = r.measurement;
  const b = other?.measurement;
  if (!a || !b || b.requestsPerSecond <= 0 || r === other) return null;
  return a.requestsPerSecond / b.requestsPerSecond;
}

const SCENARIO_HEADER = ['scenario', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', '×ceiling'];
const SCENARIO_ALIGN: Align[] = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

function scenarioRows(results: RunResults): string[][] {
  const all = results.scenarios;
  return all.map((r) => {
    if (r.status !== 'ok' || !r.measurement) {
      // The reason is listed once per server under "Not measured".
      return [r.name, String(r.connections), r.status.toUpperCase(), '', '', '', '', ''];
    }
    const x = r.measurement;
    const ceiling = r.key === 'ceiling' ? undefined : findScenario(all, 'ceiling', r.connections);
    return [
      r.name,
      String(r.connections),
      int(x.requestsPerSecond),
      ms(x.latencyMs.p50),
      ms(x.latencyMs.p99),
      ms(x.latencyMs.p999),
      int(x.errors.total),
      times(ratioTo(r, ceiling)),
    ];
  });
}

const PAIR_HEADER = ['pair (A / B)', 'side', 'scenario', 'conns', 'req/s (median)', 'req/s per round', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'A/B req/s', 'per-round A/B'];
const PAIR_ALIGN: Align[] = ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

/** Two rows per pair (A, B); the ratio cells on the A row. */
function pairRows(pairs: PairResult[]): string[][] {
  const rows: string[][] = [];
  for (const p of pairs) {
    if (p.status !== 'ok' || !p.a || !p.b) {
      rows.push([p.name, '', p.status.toUpperCase(), String(p.connections), '', '', '', '', '', '', '', '']);
      continue;
    }
    for (const [side, x] of [['A', p.a], ['B', p.b]] as const) {
      rows.push([
        side === 'A' ? p.name : '',
        side,
        x.name,
        String(p.connections),
        int(x.medianRequestsPerSecond),
        x.roundRequestsPerSecond.map((v) => (v / 1000).toFixed(1)).join(' '),
        ms(x.latencyMs.p50),
        ms(x.latencyMs.p99),
        ms(x.latencyMs.p999),
        int(x.errors),
        side === 'A' ? times(p.ratio ?? null) : '',
        side === 'A' ? spread(p.roundRatios ?? []) : '',
      ]);
    }
  }
  return rows;
}

/** One line per distinct (status, reason): which scenarios were skipped or failed, and why. */
function notMeasured(results: RunResults): string[] {
  const byReason = new Map<string, string[]>();
  for (const r of results.scenarios) {
    if (r.status === 'ok') continue;
    const key = `${r.status.toUpperCase()}: ${r.reason ?? 'no reason recorded'}`;
    byReason.set(key, [...(byReason.get(key) ?? []), `${r.name} @${r.connections}`]);
  }
  for (const p of results.pairs) {
    if (p.status === 'ok') continue;
    const key = `${p.status.toUpperCase()}: ${p.reason ?? 'no reason recorded'}`;
    byReason.set(key, [...(byReason.get(key) ?? []), `pair ${p.name} @${p.connections}`]);
  }
  return [...byReason].map(([reason, names]) =>
    names.length > 3 ? `${reason} (${names.length} scenarios: ${names.slice(0, 3).join(', ')}, …)` : `${reason} (${names.join(', ')})`,
  );
}

function targetCells(t: TargetResult): string[] {
  const unit = t.unit === '×' ? '×' : ` ${t.unit}`;
  const measured = t.measured === null ? '—' : `${t.measured.toFixed(2)}${unit}`;
  let verdict: string = t.status;
  if (t.status === 'miss' && t.measured !== null) {
    const off =
      t.comparator === '>=' ? (1 - t.measured / t.threshold) * 100 : (t.measured / t.threshold - 1) * 100;
    verdict = `MISS by ${off.toFixed(0)} %`;
  }
  return [t.name, `${t.comparator} ${t.threshold}${unit}`, measured, verdict, t.detail];
}

const TARGET_HEADER = ['target', 'wanted', 'measured', 'verdict', 'how'];
const TARGET_ALIGN: Align[] = ['l', 'r', 'r', 'l', 'l'];

function sections(results: RunResults, render: typeof renderText): { title: string; body: string }[] {
  const out: { title: string; body: string }[] = [];
  if (results.scenarios.length) {
    out.push({ title: 'Scenarios (one measurement each, in sequence)', body: render(SCENARIO_HEADER, scenarioRows(results), SCENARIO_ALIGN) });
  }
  if (results.pairs.length) {
    out.push({
      title: `Interleaved pairs (${results.rounds} rounds × ${results.roundS} s per side, A B | B A | …; req/s per round in thousands; latency pooled over the rounds)`,
      body: render(PAIR_HEADER, pairRows(results.pairs), PAIR_ALIGN),
    });
  }
  const unmeasured = notMeasured(results);
  if (unmeasured.length) out.push({ title: 'Not measured', body: unmeasured.map((n) => `- ${n}`).join('\n') });
  out.push({ title: 'Targets (issue 3)', body: render(TARGET_HEADER, results.targets.map(targetCells), TARGET_ALIGN) });
  if (results.comparisons.length) {
    out.push({
      title: 'Comparisons',
      body: render(
        ['comparison', 'ratio', 'note'],
        results.comparisons.map((c) => [c.name, c.value === null ? '—' : times(c.value), c.detail]),
        ['l', 'r', 'l'],
      ),
    });
  }
  const servers = results.servers.filter((s) => s.status !== 'skipped' || s.reason);
  if (servers.length) {
    out.push({
      title: 'Servers (peak RSS = VmHWM over the server’s life)',
      body: render(
        ['server', 'status', 'peak RSS MB', 'exit', 'what'],
        servers.map((s) => [
          s.id,
          s.status,
          s.peakRssMb === undefined ? '' : s.peakRssMb.toFixed(1),
          s.status === 'ran' ? `${s.exitCode ?? s.signal}` : (s.reason ?? ''),
          s.description,
        ]),
        ['l', 'l', 'r', 'l', 'l'],
      ),
    });
  }
  if (results.wrk.length) {
    out.push({
      title: `autocannon vs wrk (same server, body and connections; both one thread; ${results.wrk[0]!.autocannon.rounds.length} interleaved rounds × ${results.wrk[0]!.durationS} s, medians)`,
      body: render(
        ['target', 'conns', 'autocannon req/s', 'wrk req/s', 'autocannon / wrk', 'autocannon p50/p99 ms', 'wrk p50/p99 ms', 'note'],
        results.wrk.map((w) => [
          w.target,
          String(w.connections),
          int(w.autocannon.requestsPerSecond),
          w.wrk ? int(w.wrk.requestsPerSecond) : '—',
          times(w.ratio),
          `${ms(w.autocannon.p50Ms)} / ${ms(w.autocannon.p99Ms)}`,
          w.wrk ? `${ms(w.wrk.p50Ms)} / ${ms(w.wrk.p99Ms)}` : '—',
          w.note ?? '',
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
      ),
    });
  }
  if (results.soak) {
    const s = results.soak;
    out.push({
      title: 'Soak',
      body: [
        `${s.durationS} s at ${int(s.targetRate)} req/s offered (50 % of the measured peak ${int(s.peakRequestsPerSecond)} req/s): ` +
          `${int(s.achieved.requestsPerSecond)} req/s served, p99 ${ms(s.achieved.latencyMs.p99)} ms, ${int(s.achieved.errors.total)} errors`,
        `RSS ${s.rssAtMinute1Mb.toFixed(1)} MB at ${Math.round(s.durationS / 2)} s -> ${s.rssAtEndMb.toFixed(1)} MB at the end ` +
          `(${s.growthPercent >= 0 ? '+' : ''}${s.growthPercent.toFixed(2)} %), peak ${s.peakRssMb.toFixed(1)} MB`,
      ].join('\n'),
    });
  }
  if (results.ort?.results.length) {
    out.push({
      title: `Inference ceiling: raw ONNX Runtime ${results.ort.onnxruntime}, one thread, in-process (native-bench/ort-throughput.ts)`,
      body: render === renderText ? formatOrtTable(results.ort) : ortMarkdown(results),
    });
  }
  if (results.notes.length) out.push({ title: 'Notes', body: results.notes.map((n) => `- ${n}`).join('\n') });
  return out;
}

function ortMarkdown(results: RunResults): string {
  return renderMarkdown(
    ['model/version', 'batch', 'µs/call', 'rows/s'],
    results.ort!.results.map((r) => [`${r.model}/${r.version}`, String(r.batch), r.usPerCall.toFixed(1), int(r.rowsPerSecond)]),
    ['l', 'r', 'r', 'r'],
  );
}

export function formatConsole(results: RunResults): string {
  return sections(results, renderText)
    .map((s) => `\n== ${s.title}\n${s.body}`)
    .join('\n');
}

export function formatMarkdown(results: RunResults): string {
  const m = results.machine;
  const head = [
    `# Vigil bench — ${results.startedAt}`,
    '',
    `- command: \`${results.command}\` (mode ${results.mode}; warm-up ${results.warmupS} s, measure ${results.durationS} s per scenario; pairs ${results.rounds} rounds × ${results.roundS} s per side, interleaved)`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM, ${m.os}; Node ${m.node}${m.commit ? `; commit ${m.commit}` : ''}`,
    '- load generator (autocannon, one thread) and servers share these cores: compare ratios, not absolute numbers',
    '- req/s counts 2xx responses only; errors = non-2xx + socket errors (incl. timeouts)',
    '- targets and comparisons come from the interleaved pairs (both servers up, short measurements alternating A B | B A | …, ratio of median req/s); the scenarios table measures each row once, in sequence, and its ×ceiling column drifts with the machine',
  ].join('\n');
  return (
    head +
    '\n' +
    sections(results, renderMarkdown)
      .map((s) => `\n## ${s.title}\n\n${s.body}\n`)
      .join('')
  );
}

export function writeResults(results: RunResults, dir: string): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = results.startedAt.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const json = join(dir, `${stamp}.json`);
  const md = join(dir, `${stamp}.md`);
  writeFileSync(json, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(md, formatMarkdown(results));
  return { json, md };
}
