// Operations endpoints: Prometheus /metrics, the /stats JSON, and the live /dashboard page.
import { readFileSync } from 'node:fs';
import type { Metrics } from '../monitoring/metrics.js';
import type { StatsReporter } from '../serving/stats.js';
import type { Router } from './router.js';

export interface OpsContext {
  metrics: Metrics;
  stats: StatsReporter;
}

const DASHBOARD = readFileSync(new URL('../../../src/http/dashboard.html', import.meta.url), 'utf8');

export function mountOps(router: Router, context: OpsContext): void {
  router
    .route('/metrics', {
      GET: async (ex) => ex.send(200, await context.metrics.exposition(), context.metrics.contentType),
    }, 'probe')
    .route('/stats', { GET: (ex) => ex.sendJson(200, context.stats.snapshot()) })
    // The page is a static shell; it asks /stats (with the key in its URL fragment, if any).
    .route('/dashboard', { GET: (ex) => ex.send(200, DASHBOARD, 'text/html; charset=utf-8') }, 'page')
    .route('/', { GET: (ex) => ex.send(200, DASHBOARD, 'text/html; charset=utf-8') }, 'page');
}
