// Renders a run (terminal and markdown): the interleaved groups, the targets, the comparisons,
// the per-stage CPU budget, the scenarios table, servers, soak and the ORT ceiling; writes
// bench/results/<timestamp>.{json,md}.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatOrtTable } from '../../native-bench/lib/ort-report.js';
import type { ArmResult, GroupResult, RunResults, ScenarioResult, StageBudget, TargetResult, ThreadBudget } from './results.js';
import { STAGE_RULES } from './stage-map.js';

type Align = 'l' | 'r';
type Render = (header: string[], rows: string[][], align: Align[]) => string;

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

const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const ms = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
const us = (x: number | null): string => (x === null || !Number.isFinite(x) ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const times = (x: number | null): string =>
  x === null ? '' : `${x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}×`;
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '—');

// ---- interleaved groups

const GROUP_HEADER = ['arm', 'tool', 'conns', '2xx/s (median)', 'per round (k)', 'CPU µs/req process (main)', 'p50 ms', 'p99 ms', 'p99.9 ms', 'admitted p99 ms', 'non-2xx'];
const GROUP_ALIGN: Align[] = ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

function armRow(a: ArmResult): string[] {
  const m = a.median;
  const non2xx = Object.entries(a.statuses).reduce((n, [code, c]) => (code.startsWith('2') ? n : n + c), 0) + a.socketErrors;
  return [
    a.label,
    a.tool,
    String(a.connections),
    int(m.goodput),
    a.rounds.map((r) => (r.goodput / 1000).toFixed(1)).join(' '),
    `${us(m.processUsPerRequest)} (${us(m.mainUsPerRequest)})`,
    ms(m.p50Ms),
    ms(m.p99Ms),
    ms(m.p999Ms),
    ms(m.admittedP99Ms),
    int(non2xx),
  ];
}

function groupSection(g: GroupResult, render: Render): { title: string; body: string } {
  const title = `${g.key}: ${g.title}`;
  if (g.status !== 'ok') return { title, body: `${g.status.toUpperCase()}: ${g.reason ?? ''}` };
  return {
    title: `${title} (${g.rounds} rounds × ${g.roundS} s per arm, interleaved)`,
    body: render(GROUP_HEADER, g.arms.map(armRow), GROUP_ALIGN),
  };
}

// ---- targets and comparisons

function targetCells(t: TargetResult): string[] {
  const unit = t.unit === '×' ? '×' : ` ${t.unit}`;
  const measured = t.measured === null ? '—' : `${t.measured.toFixed(t.unit === '×' ? 3 : 1)}${unit}`;
  let verdict: string = t.status;
  if (t.status === 'miss' && t.measured !== null) {
    const off = t.comparator === '>=' ? (1 - t.measured / t.threshold) * 100 : (t.measured / t.threshold - 1) * 100;
    verdict = `MISS by ${off.toFixed(0)} %`;
  }
  return [t.name, `${t.comparator} ${t.threshold}${unit}`, measured, verdict, t.detail];
}

// ---- stage budget

function threadRows(t: ThreadBudget, scaled: boolean): string[][] {
  return t.rows.map((r) => [
    r.stage,
    String(r.samples),
    pct(r.share),
    ...(scaled ? [us(r.usPerRequest)] : []),
    r.top.map((f) => `${f.frame} (${f.samples})`).join('; '),
  ]);
}

function stageSections(b: StageBudget, render: Render): { title: string; body: string }[] {
  const scaled = b.scaledTo !== null;
  const notes = [
    `Vigil under \`node --cpu-prof\` (one sample every ${b.samplingIntervalUs} µs), ${b.request} @${b.connections} by wrk for ${b.durationS} s: ${int(b.requests)} requests.`,
    'Profiling adds overhead: the profile gives each stage’s SHARE of the main thread’s non-idle samples in that interval; ' +
      (scaled
        ? `µs/request = share × ${b.scaledTo!.mainUsPerRequest.toFixed(1)} µs, the main thread’s CPU per request measured without the profiler (${b.scaledTo!.source}).`
        : 'no unprofiled CPU figure to scale to in this run, so shares only.'),
    `The profiled run itself used ${b.profiled.mainUsPerRequest.toFixed(1)} µs/request on the main thread (${b.profiled.processUsPerRequest.toFixed(1)} whole process).`,
    `Main thread: ${b.main.samples} samples on CPU, ${b.main.idleSamples} idle (excluded). Stage rules: bench/lib/stage-map.ts (first matching frame from the leaf up).`,
  ];
  const out = [
    {
      title: 'Per-stage CPU budget, main thread',
      body:
        notes.map((n) => `- ${n}`).join('\n') +
        '\n\n' +
        render(['stage', 'samples', 'share', ...(scaled ? ['µs/request'] : []), 'top self-time frames (samples)'], threadRows(b.main, scaled), ['l', 'r', 'r', ...(scaled ? ['r' as const] : []), 'l']),
    },
  ];
  if (b.workers) {
    out.push({
      title: `Per-stage split, inference worker threads (shares of ${b.workers.samples} non-idle samples; ${b.workers.idleSamples} idle)`,
      body: render(['stage', 'samples', 'share', 'top self-time frames (samples)'], threadRows(b.workers, false), ['l', 'r', 'r', 'l']),
    });
  }
  return out;
}

/** The stage mapping, printed once in the markdown so the table can be read without the code. */
function stageRulesTable(render: Render): string {
  return render(
    ['stage', 'thread', 'frame url matches', 'function matches', 'why'],
    STAGE_RULES.map((r) => [r.stage, r.thread ?? 'any', r.url ? `\`${r.url.source}\`` : '', r.fn ? `\`${r.fn.source}\`` : '', r.why]),
    ['l', 'l', 'l', 'l', 'l'],
  );
}

// ---- scenarios table (full runs)

const SCENARIO_HEADER = ['scenario', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', '×JSON echo'];
const SCENARIO_ALIGN: Align[] = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

function scenarioRows(all: ScenarioResult[]): string[][] {
  return all.map((r) => {
    if (r.status !== 'ok' || !r.measurement) return [r.name, String(r.connections), r.status.toUpperCase(), '', '', '', '', ''];
    const x = r.measurement;
    const echo = all.find((e) => e.key === 'json-echo' && e.connections === r.connections && e.measurement);
    const ratio = echo && echo !== r ? x.requestsPerSecond / echo.measurement!.requestsPerSecond : null;
    return [r.name, String(r.connections), int(x.requestsPerSecond), ms(x.latencyMs.p50), ms(x.latencyMs.p99), ms(x.latencyMs.p999), int(x.errors.total), times(ratio)];
  });
}

// ---- assembly

function sections(results: RunResults, render: Render): { title: string; body: string }[] {
  const out: { title: string; body: string }[] = [];
  if (results.targets.length) {
    out.push({ title: 'Targets (issue 9)', body: render(['target', 'wanted', 'measured', 'verdict', 'how'], results.targets.map(targetCells), ['l', 'r', 'r', 'l', 'l']) });
  }
  if (results.comparisons.length) {
    out.push({
      title: 'Comparisons (informational)',
      body: render(['comparison', 'ratio', 'how'], results.comparisons.map((c) => [c.name, c.value === null ? '' : times(c.value), c.detail]), ['l', 'r', 'l']),
    });
  }
  for (const g of results.groups) out.push(groupSection(g, render));
  if (results.stageBudget) out.push(...stageSections(results.stageBudget, render));
  if (results.scenarios.length) {
    out.push({ title: 'Scenarios (autocannon, one measurement each, in sequence: absolute numbers, not ratios)', body: render(SCENARIO_HEADER, scenarioRows(results.scenarios), SCENARIO_ALIGN) });
  }
  const servers = results.servers.filter((s) => s.status !== 'skipped' || s.reason);
  if (servers.length) {
    out.push({
      title: 'Servers (peak RSS = VmHWM over the server’s life)',
      body: render(
        ['server', 'status', 'peak RSS MB', 'exit', 'what'],
        servers.map((s) => [s.id, s.status, s.peakRssMb === undefined ? '' : s.peakRssMb.toFixed(1), s.status === 'ran' ? `${s.exitCode ?? s.signal}` : (s.reason ?? ''), s.description]),
        ['l', 'l', 'r', 'l', 'l'],
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
      body:
        render === renderText
          ? formatOrtTable(results.ort)
          : renderMarkdown(
              ['model/version', 'batch', 'µs/call', 'rows/s'],
              results.ort.results.map((r) => [`${r.model}/${r.version}`, String(r.batch), r.usPerCall.toFixed(1), int(r.rowsPerSecond)]),
              ['l', 'r', 'r', 'r'],
            ),
    });
  }
  if (results.notes.length) out.push({ title: 'Notes', body: results.notes.map((n) => `- ${n}`).join('\n') });
  return out;
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
    `- command: \`${results.command}\` (mode ${results.mode}; groups ${results.rounds} rounds × ${results.roundS} s per arm, interleaved; warm-up ${results.warmupS} s per arm, longer on a fresh server)`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM, ${m.os}; Node ${m.node}${m.commit ? `; commit ${m.commit}` : ''}`,
    `- load average at the start: ${m.loadAverage.map((x) => x.toFixed(2)).join(' ')} (the machine is shared: other work runs beside the bench)`,
    '- load generator (wrk -t1, or autocannon where marked) and servers share these cores: compare ratios within a group, not absolute numbers',
    '- req/s = 2xx answers per second (goodput); CPU µs/request = the server’s utime+stime over the interval (/proc/<pid>/task/*/stat), whole process (main thread), ÷ responses completed',
    '- every target divides two arms of one interleaved group (median over the rounds; per-round range beside it)',
  ].join('\n');
  const body = sections(results, renderMarkdown)
    .map((s) => `\n## ${s.title}\n\n${s.body}\n`)
    .join('');
  const rules = results.stageBudget ? `\n## Stage rules (bench/lib/stage-map.ts)\n\n${stageRulesTable(renderMarkdown)}\n` : '';
  return head + '\n' + body + rules;
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
