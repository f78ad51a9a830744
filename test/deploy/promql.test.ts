// Every PromQL expression Vigil ships — the Grafana dashboard's panels (deploy/grafana/vigil.json)
// and the recording and alerting rules (deploy/prometheus) — evaluated by a real Prometheus
// (Debian package `prometheus`) that scrapes a real Vigil serving live, shadow and failing
// traffic: none errors, every rule evaluates healthy, and the key panels return data.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { BUNDLED_MODELS, postJson, ROOT, startServer, type RunningServer } from '../helpers/server.js';

interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string }; targets?: { expr: string; refId: string }[] }
const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/vigil.json'), 'utf8')) as { panels: Panel[]; templating: { list: { name: string }[] } };
const RULE_FILES = ['rules.yml', 'alerts.yml'].map((f) => join(ROOT, 'deploy/prometheus', f));
const rules = RULE_FILES.flatMap((file) => (parse(readFileSync(file, 'utf8')) as { groups: { rules: { record?: string; alert?: string; expr: string }[] }[] })
  .groups.flatMap((g) => g.rules));

/** A dashboard expression as Grafana would send it with every variable on "All". */
const resolve = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$model', '.*').replaceAll('$version', '.*');

// Panels that must show data for a fleet serving live and shadow traffic with some failures
// (the guardrail and ground-truth panels need rollbacks and feedback, which this traffic has not).
const KEY_PANELS = [
  'Fleet PSI per feature vs the 0.2 threshold (live, last hour)',
  'Fleet PSI over time and the sampling-noise level',
  'Columns where the chi-square test is significant (χ² / critical > 1)',
  'Fleet PSI since start (all rows) per feature',
  'Rows predicted per second by version and role',
  'Requests per second by version and role',
  'Error ratio by version (server-side errors)',
  'Errors per second by type',
  'p50 and p99 latency per version (live)',
  'Latency SLO burn rate (99 % within 0.1 s)',
  'Mean rows per ORT batch',
  'Queued rows per version (sum over replicas)',
  'Shadow agreement with live',
  'Replicas up and versions ready',
];

describe('PromQL of the dashboard and the rules against a real Prometheus', () => {
  let server: RunningServer;
  let models: ReturnType<typeof tempModels>;
  let prometheus: RunningPrometheus;

  beforeAll(async () => {
    models = tempModels(BUNDLED_MODELS, ['breast-cancer', 'diabetes'], {
      'breast-cancer': (config) => ({ ...config, traffic: { weights: { 1: 100 }, shadow: { version: '2', percent: 100 } } }),
    });
    server = await startServer({ args: ['--models', models.dir, '--workers', '1'] });
    prometheus = await startPrometheus([`127.0.0.1:${server.port}`], { intervalSeconds: 1, ruleFiles: RULE_FILES });
    const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'heldout.json'), 'utf8')) as { rows: number[][] };
    const diabetes = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'diabetes', '1', 'heldout.json'), 'utf8')) as { rows: number[][] };
    // Traffic spread over a few scrapes, so rates have two samples to work from.
    const prom = prometheus;
    await pollUntil('traffic rates in Prometheus', async () => {
      for (let i = 0; i < 10; i++) {
        expect((await postJson(`${server.url}/predict`, { model: 'breast-cancer', instances: heldout.rows.slice(i * 10, i * 10 + 10) })).status).toBe(200);
      }
      expect((await postJson(`${server.url}/predict`, { model: 'diabetes', instances: diabetes.rows.slice(0, 5) })).status).toBe(200);
      expect((await postJson(`${server.url}/predict`, { model: 'diabetes', version: '1', features: [1] })).status).toBe(400);
      const result = await prom.query('vigil:model_prediction_latency_seconds:p99_5m{model="breast-cancer",role="shadow"}');
      return result.length > 0 ? true : undefined;
    }, 60_000, 500);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await server?.kill();
    models?.cleanup();
  });

  it('the dashboard is well formed: unique ids, panels on the 24-column grid without overlap, one datasource variable', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps another panel`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
      if (p.type !== 'row') {
        expect(p.datasource?.uid, p.title).toBe('${datasource}');
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
      }
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'model', 'version']);
    for (const title of KEY_PANELS) expect(dashboard.panels.map((p) => p.title), title).toContain(title);
  });

  it('every dashboard expression evaluates without error, and the key panels return data', async () => {
    /** Titles of the panels whose every target came back empty; throws on a PromQL error. */
    const emptyPanels = async () => {
      const empty: string[] = [];
      for (const panel of dashboard.panels.filter((p) => p.targets)) {
        let series = 0;
        for (const target of panel.targets!) series += (await prometheus.query(resolve(target.expr))).length;
        if (series === 0) empty.push(panel.title);
      }
      return empty;
    };
    // Recording rules fill in over the first evaluations: poll until the key panels have data.
    const empty = await pollUntil('key panels with data', async () => {
      const now = await emptyPanels();
      return now.some((title) => KEY_PANELS.includes(title)) ? undefined : now;
    }, 30_000, 1000).catch(async () => emptyPanels());
    expect(empty.filter((title) => KEY_PANELS.includes(title))).toEqual([]);
  });

  it('every recording and alerting rule expression evaluates without error', async () => {
    for (const rule of rules) await prometheus.query(rule.expr);
  });

  it('Prometheus evaluates every loaded rule healthy', async () => {
    const groups = await pollUntil('every rule evaluated', async () => {
      const body = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
        data: { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const all = body.data.groups.flatMap((g) => g.rules);
      return all.length === rules.length && all.every((r) => r.health !== 'unknown') ? all : undefined;
    }, 30_000);
    expect(groups.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
  });
});
