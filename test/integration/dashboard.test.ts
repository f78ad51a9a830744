// The live dashboard (GET /dashboard) in a real headless Chromium against a real server:
// it polls /stats, and as /predict traffic flows it shows the models, per-version request
// rates, latency percentiles with a sparkline, drift (PSI/KS) once min_samples rows arrived,
// and shadow agreement. Also: the error banner when /stats fails (and its recovery), and that
// strings from /stats are rendered as text, never as markup.
//
// Every wait polls the page (waitForFunction / locator waits with timeouts); no sleeps.
// A full-page screenshot of the real run is written to /tmp/vigil-dashboard.png.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, textOf, waitForNumber, waitForText } from '../helpers/browser.js';
import { BUNDLED_MODELS, getJson, startServer, type RunningServer } from '../helpers/server.js';

const TOKEN = 'dashboard-test-token';
const SCREENSHOT = '/tmp/vigil-dashboard.png';
const LATENCY = /^\d+(\.\d+)?\s(µs|ms|s)$/;
const SCORE = /^\d+\.\d{3}$|^\d(\.\d)?e-\d+$/;

interface Heldout {
  feature_names: string[];
  rows: number[][];
}
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'heldout.json'), 'utf8')) as Heldout;
const asObject = (row: number[]) => Object.fromEntries(heldout.feature_names.map((n, i) => [n, row[i]]));

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer({ env: { VIGIL_ADMIN_TOKEN: TOKEN } }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.kill();
});

/** A page that records uncaught errors, console errors and every URL it requests. */
async function openPage(path = '/dashboard'): Promise<{ page: Page; problems: string[]; requested: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const problems: string[] = [];
  const requested: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console.error: ${message.text()}`);
  });
  page.on('request', (request) => requested.push(request.url()));
  const response = await page.goto(server.url + path);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-type']).toMatch(/^text\/html/);
  return { page, problems, requested };
}

/** POSTs each body to /predict, `concurrency` at a time; every answer must be 200. */
async function predictAll(bodies: unknown[], concurrency = 6): Promise<void> {
  let next = 0;
  const failures: string[] = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const response = await fetch(`${server.url}/predict`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const text = await response.text();
      if (response.status !== 200) failures.push(`${response.status} ${text}`);
    }
  }));
  expect(failures, failures.slice(0, 3).join('\n')).toEqual([]);
}

describe('GET /dashboard in a real browser', () => {
  it('is one self-contained page, also served at /', async () => {
    const dashboard = await fetch(`${server.url}/dashboard`).then((r) => r.text());
    const index = await fetch(`${server.url}/`).then((r) => r.text());
    expect(index).toBe(dashboard);
    // No external scripts, styles, fonts or images.
    expect(dashboard).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)="(?!data:)/i);
    expect(dashboard).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect(dashboard).not.toMatch(/\.innerHTML\s*=|insertAdjacentHTML|outerHTML\s*=|document\.write/);
  });

  it('shows models, request rates, latency, drift and shadow agreement as traffic flows', async () => {
    const { page, problems, requested } = await openPage();
    for (const model of ['breast-cancer', 'diabetes', 'digits']) {
      await page.getByTestId(`model-${model}`).waitFor({ state: 'visible', timeout: 15_000 });
    }
    await waitForText(page, 'status', /live · updated/);
    await waitForText(page, 'task-breast-cancer', /^binary-classification$/);
    await waitForText(page, 'ready-breast-cancer', /^ready$/);
    // Default split 90/10, drawn as a bar.
    await waitForText(page, 'split-breast-cancer-1', /^v1 90 %$/);
    await waitForText(page, 'split-breast-cancer-2', /^v2 10 %$/);
    await waitForText(page, 'split-diabetes-1', /^v1 100 %$/);
    await waitForText(page, 'weight-breast-cancer-1', /^90 % live$/);
    // Nothing sent yet: drift below min_samples is shown as such.
    await waitForText(page, 'psi-breast-cancer-1-mean_radius', /^— \(n < min\)$/);
    await waitForText(page, 'psi-digits-1-pixel_0', /^— \(n < min\)$/);
    await waitForText(page, 'requests-breast-cancer-1', /^0$/);

    // Mirror v2 as a shadow of every live request, so agreement has something to show.
    const put = await fetch(`${server.url}/admin/models/breast-cancer/traffic`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ weights: { 1: 90, 2: 10 }, shadow: { version: '2', percent: 100 } }),
    });
    expect(put.status, await put.text()).toBe(200);
    await waitForText(page, 'shadow-breast-cancer', /version 2 mirrors 100 %/);

    // req/s is a delta between polls: start watching before the traffic so the poll that
    // sees it cannot be missed.
    const rateSeen = waitForText(page, 'rps-breast-cancer-1', /^(?!0$)\d[\d,.]*$/, 60_000);
    const pinned = [...heldout.rows, ...heldout.rows].map((row) => ({ model: 'breast-cancer', version: '1', features: asObject(row) }));
    const unpinned = heldout.rows.slice(0, 60).map((row, i) => ({ model: 'breast-cancer', features: asObject(row), id: `user-${i}` }));
    await predictAll([...pinned, ...unpinned]);
    const rate = await rateSeen;
    expect(Number(rate.replace(/,/g, ''))).toBeGreaterThan(0);

    const stats = (await getJson(`${server.url}/stats`)).json;
    const live1 = stats.models['breast-cancer'].versions['1'].roles.live;
    expect(live1.rows).toBeGreaterThanOrEqual(pinned.length);

    // Counts: at least the pinned requests on v1 (plus ~90 % of the unpinned ones).
    const requests = await waitForNumber(page, 'requests-breast-cancer-1', pinned.length);
    expect(requests).toBeLessThanOrEqual(pinned.length + unpinned.length);
    await waitForText(page, 'errors-breast-cancer-1', /^0$/);

    // Latency percentiles of the window, formatted with a unit.
    for (const q of ['p50', 'p99', 'p999']) {
      await waitForText(page, `${q}-breast-cancer-1`, LATENCY);
    }
    await waitForText(page, 'batch-breast-cancer-1', /^\d+\.\d{2}$/);
    await waitForText(page, 'queue-breast-cancer-1', /^\d+$/);

    // Drift: >= min_samples (200) rows on v1, so PSI/KS are numbers and the cells are coloured
    // by the thresholds (< 0.1 green, < 0.2 amber, >= 0.2 red).
    await page.getByTestId('psi-breast-cancer-1-mean_radius').waitFor({ state: 'visible', timeout: 10_000 });
    for (const column of ['mean_radius', 'worst_fractal_dimension', 'probability', 'label']) {
      const psi = await waitForText(page, `psi-breast-cancer-1-${column}`, SCORE);
      await waitForText(page, `ks-breast-cancer-1-${column}`, SCORE);
      const n = await waitForNumber(page, `n-breast-cancer-1-${column}`, 200);
      expect(n).toBeGreaterThanOrEqual(200);
      const value = Number(psi);
      const expected = value < 0.1 ? 'green' : value < 0.2 ? 'amber' : 'red';
      const cell = page.getByTestId(`psi-breast-cancer-1-${column}`);
      expect(await cell.getAttribute('data-level')).toBe(expected);
      expect(await cell.getAttribute('class')).toContain(`lvl-${expected}`);
      const background = await cell.evaluate((node) => (globalThis as any).getComputedStyle(node).backgroundColor as string);
      expect(background, `${column} cell background`).not.toMatch(/rgba\(0, 0, 0, 0\)|transparent/);
    }
    // The page's PSI is the server's PSI (3 decimals).
    const serverPsi = (live1.drift as { column: string; psi: number | null }[]).find((d) => d.column === 'mean_radius')!.psi!;
    expect(Math.abs(Number(await textOf(page, 'psi-breast-cancer-1-mean_radius')) - serverPsi)).toBeLessThan(0.01);
    // Models that got no traffic still say why there is no PSI.
    expect(await textOf(page, 'psi-digits-1-pixel_0')).toBe('— (n < min)');

    // Shadow: v2 saw the mirrored requests, and the agreement ratio is shown.
    await waitForNumber(page, 'requests-shadow-breast-cancer-2', 1);
    await waitForText(page, 'agreement-ratio-breast-cancer-1-2', /^\d{1,3}\.\d %$/);

    // The sparkline has been drawn (some non-transparent pixels).
    await page.waitForFunction(() => {
      const canvas = (globalThis as any).document.querySelector('[data-testid="spark-breast-cancer-1"]');
      if (!canvas) return false;
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
      return painted > 50;
    }, undefined, { timeout: 20_000, polling: 200 });

    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    const origin = new URL(server.url).origin;
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows an error banner while /stats fails and recovers when it answers again', async () => {
    const { page, problems } = await openPage('/');
    await page.getByTestId('model-breast-cancer').waitFor({ state: 'visible', timeout: 15_000 });
    const banner = page.getByTestId('error-banner');
    expect(await banner.isVisible()).toBe(false);

    await page.route('**/stats', (route) => route.abort('connectionrefused'));
    await banner.waitFor({ state: 'visible', timeout: 10_000 });
    await waitForText(page, 'error-banner', /Cannot load \/stats/);
    await waitForText(page, 'status', /disconnected/);
    // The last figures stay on the page (dimmed) while it is down.
    expect(await page.getByTestId('model-breast-cancer').isVisible()).toBe(true);

    await page.unroute('**/stats');
    await page.route('**/stats', (route) => route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"boom"}' }));
    await waitForText(page, 'error-banner', /HTTP 500/, 10_000);

    await page.unroute('**/stats');
    await banner.waitFor({ state: 'hidden', timeout: 10_000 });
    await waitForText(page, 'status', /live · updated/);
    expect(await page.locator('main.stale').count()).toBe(0);
    // A failed fetch logs "Failed to load resource" to the console; nothing else may.
    expect(problems.filter((p) => !/Failed to load resource/.test(p))).toEqual([]);
    await page.close();
  });

  it('renders strings from /stats as text, never as markup, and highlights alerts (drift, performance, data quality)', async () => {
    const evil = '<img src=x onerror="globalThis.__pwned=1">';
    const latency = { count: 10, p50: 800, p90: 1500, p99: 2500, p999: 9000, max: 9000, mean: 950 };
    const performance = {
      labels: 300,
      metrics: { accuracy: { value: 0.5, labels: 300 }, '<b>f1</b>': { value: 0.25, labels: 300 }, auc: { value: 0.7, labels: 300, error_bound: 0.001 } },
      concept: [{ metric: 'accuracy', reference: 0.98, threshold: 0.931, alert: true }],
    };
    const role = (drift: unknown) => ({
      requests: 10, rows: 10, errors: { '<b>inference</b>': 2 },
      latency_us: { window: latency, total: latency }, drift, performance,
      batching: { queued_rows: 3, queued_requests: 1, inflight_batches: 1, batches: 5, mean_batch_rows: 2 },
    });
    const dataQuality = {
      rows: 40,
      columns: [
        { column: '<u>age</u>', below: 0, above: 0, missing: 20, out_of_range_rate: 0, missing_rate: 0.5, alerts: ['missing'] },
        { column: 'bmi', below: 1, above: 3, missing: 0, out_of_range_rate: 0.1, missing_rate: 0, alerts: [] },
        { column: 'clean', below: 0, above: 0, missing: 0, out_of_range_rate: 0, missing_rate: 0, alerts: [] },
      ],
    };
    const drift = [
      { column: '<script>globalThis.__pwned=2</script>', kind: 'feature', n: 500, psi: 0.35, psi_noise: 0.04, p_value: 1e-12, significant: true, ks: 0.25, alert: true },
      { column: 'amber', kind: 'feature', n: 500, psi: 0.15, ks: 0.12, alert: false },
      { column: 'green', kind: 'feature', n: 500, psi: 0.05, ks: 0.02, alert: false },
      { column: 'pending', kind: 'output', n: 12, psi: null, ks: null, alert: false },
    ];
    const fake = {
      uptime_seconds: 42,
      models: {
        [evil]: {
          ready: true, task: '<i>regression</i>', traffic: { weights: { 1: 100 }, shadow: null },
          errors: [{ version: '2', message: '<svg onload="globalThis.__pwned=3">' }],
          versions: { 1: { state: 'ready', batchable: true, max_batch_size: 8, roles: { live: role(drift) }, data_quality: dataQuality, guardrail: null } },
          shadow_agreement: [],
        },
      },
      alerts: [{ name: 'VigilConceptDrift', labels: { model: evil, version: '1', metric: 'accuracy', severity: 'warning' }, starts_at: '2024-06-12T10:00:00.000Z' }],
    };
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.route('**/stats', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(fake) }));
    await page.goto(`${server.url}/dashboard`);
    await page.getByTestId(`model-${evil}`).waitFor({ state: 'visible', timeout: 15_000 });

    expect(await page.locator('section.model h2').first().textContent()).toBe(evil);
    expect(await textOf(page, `task-${evil}`)).toBe('<i>regression</i>');
    expect(await textOf(page, `load-errors-${evil}`)).toContain('<svg onload=');
    expect(await page.locator('main img, main svg, main script, main b, main i').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();

    const id = `${evil}-1`;
    const column = drift[0]!.column;
    expect(await textOf(page, `psi-${id}-${column}`)).toBe('0.350');
    expect(await page.getByTestId(`psi-${id}-${column}`).getAttribute('data-level')).toBe('red');
    expect(await page.getByTestId(`psi-${id}-amber`).getAttribute('data-level')).toBe('amber');
    expect(await page.getByTestId(`psi-${id}-green`).getAttribute('data-level')).toBe('green');
    expect(await textOf(page, `psi-${id}-pending`)).toBe('— (n < min)');
    expect(await page.getByTestId(`drift-row-${id}-${column}`).getAttribute('data-alert')).toBe('true');
    expect(await textOf(page, 'alerts')).toContain('1 drift alert');
    expect(await textOf(page, `noise-${id}-${column}`)).toBe('0.040');
    expect(await textOf(page, `p-${id}-${column}`)).toBe('1.0e-12');
    expect(await textOf(page, `errors-${id}`)).toBe('2');
    // performance against ground truth, with the concept-drift reference and alert
    expect(await textOf(page, `perf-${id}-accuracy`)).toBe('0.500');
    expect(await textOf(page, `perf-${id}-<b>f1</b>`)).toBe('0.250');
    expect(await textOf(page, `perf-${id}`)).toContain('ALERT');
    // data quality: only columns with something to say, rates as percentages
    expect(await textOf(page, `dq-${id}-<u>age</u>-missing`)).toBe('50.00 %');
    expect(await textOf(page, `dq-${id}-bmi-out_of_range`)).toBe('10.00 %');
    expect(await page.getByTestId(`dq-${id}-clean-missing`).count()).toBe(0);
    expect(await textOf(page, 'other-alert-VigilConceptDrift')).toContain('metric=accuracy');
    expect(await page.locator('main u, main b').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
    expect(problems).toEqual([]);
    await page.close();
  });
});
