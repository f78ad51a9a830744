// Alerts that reach someone: a real Vigil, a real Prometheus loading deploy/prometheus's rules
// and alerts, a real Alertmanager (Debian package prometheus-alertmanager) and a webhook
// receiver here. After drifted rows (mean_radius × 1.5) the receiver gets VigilFeatureDrift and
// VigilFeatureDriftSignificant for breast-cancer v1 / live / mean_radius, with their labels and
// annotations. To finish in seconds the test copies alerts.yml with every `for:` hold set to
// 1s, and runs Prometheus' evaluation and Alertmanager's grouping at 1 s; rules and thresholds
// are otherwise as shipped.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAlertmanager, startWebhookReceiver, type RunningAlertmanager, type WebhookReceiver } from '../helpers/alertmanager.js';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { BUNDLED_MODELS, postJson, ROOT, startServer, type RunningServer } from '../helpers/server.js';

const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as { feature_names: string[]; rows: number[][] };

describe('drift alert: Vigil → Prometheus → Alertmanager → webhook', () => {
  let models: ReturnType<typeof tempModels>;
  let server: RunningServer;
  let receiver: WebhookReceiver;
  let alertmanager: RunningAlertmanager;
  let prometheus: RunningPrometheus;
  let rulesDir: string;

  beforeAll(async () => {
    models = tempModels(BUNDLED_MODELS, [MODEL], { [MODEL]: (config) => ({ ...config, traffic: { weights: { 1: 100 } } }) });
    server = await startServer({ args: ['--models', models.dir, '--workers', '1'] });
    receiver = await startWebhookReceiver();
    alertmanager = await startAlertmanager(receiver.url);
    rulesDir = mkdtempSync(join(tmpdir(), 'vigil-rules-'));
    writeFileSync(join(rulesDir, 'rules.yml'), readFileSync(join(ROOT, 'deploy/prometheus/rules.yml')));
    const alerts = readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8');
    const quick = alerts.replace(/^(\s+)for: \S+$/gm, '$1for: 1s');
    expect(quick).not.toBe(alerts);
    writeFileSync(join(rulesDir, 'alerts.yml'), quick);
    prometheus = await startPrometheus([`127.0.0.1:${server.port}`], {
      intervalSeconds: 1, ruleFiles: [join(rulesDir, 'rules.yml'), join(rulesDir, 'alerts.yml')], alertmanagers: [alertmanager.address],
    });
    // The zeroed bins are scraped before any row is counted, so increase() sees every row.
    await pollUntil('zeroed bins scraped', async () =>
      (await prometheus.query(`feature_bin_count_total{model="${MODEL}",column="mean_radius",role="live"}`)).length > 0 ? true : undefined, 60_000);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await receiver?.close();
    await server?.kill();
    models?.cleanup();
    if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
  });

  it('the webhook receives the drift alerts with their labels', async () => {
    const radius = heldout.feature_names.indexOf('mean_radius');
    const drifted = heldout.rows.map((row) => row.map((x, i) => (i === radius ? x * 1.5 : x)));
    const rows = [...drifted, ...drifted]; // 228 rows: over the alerts' 200-row minimum
    for (let start = 0; start < rows.length; start += 19) {
      const response = await postJson(`${server.url}/predict`, { model: MODEL, instances: rows.slice(start, start + 19) });
      expect(response.status, response.text).toBe(200);
    }
    const wanted = ['VigilFeatureDrift', 'VigilFeatureDriftSignificant'];
    const received = await pollUntil('both drift alerts at the webhook', async () => {
      const alerts = receiver.messages.filter((m) => m.status === 'firing').flatMap((m) => m.alerts)
        .filter((a) => wanted.includes(a.labels.alertname!) && a.labels.column === 'mean_radius');
      return wanted.every((name) => alerts.some((a) => a.labels.alertname === name)) ? alerts : undefined;
    }, 45_000, 250);
    for (const name of wanted) {
      const alert = received.find((a) => a.labels.alertname === name)!;
      expect(alert.status).toBe('firing');
      expect(alert.labels).toMatchObject({ alertname: name, model: MODEL, version: '1', role: 'live', column: 'mean_radius', component: 'vigil' });
      expect(alert.labels.severity).toBe(name === 'VigilFeatureDrift' ? 'info' : 'warning');
      expect(alert.annotations.summary).toMatch(new RegExp(`^(Significant d|D)rift on ${MODEL} v1 \\(live\\) column mean_radius: fleet PSI \\d+\\.\\d{3}`));
    }
    // Grouped by alertname, model, version and column: mean_radius's notification is its own.
    const message = receiver.messages.find((m) => m.groupLabels.alertname === 'VigilFeatureDriftSignificant' && m.groupLabels.column === 'mean_radius')!;
    expect(message.receiver).toBe('test');
    expect(message.alerts).toHaveLength(1);
    expect(message.groupLabels).toMatchObject({ alertname: 'VigilFeatureDriftSignificant', model: MODEL, version: '1', column: 'mean_radius' });
  });
});
