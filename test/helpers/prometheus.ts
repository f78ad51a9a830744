// Test helpers around Prometheus: a real Prometheus server (Debian package `prometheus`,
// /usr/bin/prometheus) started on a free loopback port with a throwaway config and TSDB, its
// HTTP query API, and `promtool check metrics`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { pause } from './poll.js';

export const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
export const AMTOOL = process.env.AMTOOL_BIN ?? '/usr/bin/amtool';

/** Runs `promtool check metrics` on an exposition text (stdin); returns its exit code and output. */
export function promtoolCheckMetrics(exposition: string): { status: number | null; output: string } {
  if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} is missing: install the Debian package prometheus (.ci/run does)`);
  const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

export interface RunningPrometheus {
  url: string;
  child: ChildProcess;
  output: string[];
  /** GET /api/v1/query; returns `data.result` (throws on a non-success answer). */
  query(promql: string): Promise<PromSample[]>;
  stop(): Promise<void>;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * Starts Prometheus scraping `targets` (host:port) every `intervalSeconds`, waits for
 * /-/ready. Retries on another port when the chosen one was taken in between.
 */
export interface PrometheusOptions {
  /** Scrape and rule evaluation interval (default 1 s). */
  intervalSeconds?: number;
  timeoutMs?: number;
  /** Rule files to load (absolute paths). */
  ruleFiles?: string[];
  /** Alertmanagers (host:port) to send alerts to. */
  alertmanagers?: string[];
}

export async function startPrometheus(targets: string[], options: PrometheusOptions = {}): Promise<RunningPrometheus> {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: install the Debian package prometheus (.ci/run does)`);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(targets, options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(targets: string[], options: PrometheusOptions): Promise<RunningPrometheus> {
  const interval = options.intervalSeconds ?? 1;
  const timeoutMs = options.timeoutMs ?? 45_000;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-prometheus-'));
  const quoted = (list: string[]) => `[${list.map((t) => `'${t}'`).join(', ')}]`;
  const config = [
    'global:',
    `  scrape_interval: ${interval}s`,
    `  scrape_timeout: ${interval}s`,
    `  evaluation_interval: ${interval}s`,
    ...(options.ruleFiles?.length ? [`rule_files: ${quoted(options.ruleFiles)}`] : []),
    ...(options.alertmanagers?.length ? ['alerting:', '  alertmanagers:', '    - static_configs:', `        - targets: ${quoted(options.alertmanagers)}`] : []),
    'scrape_configs:',
    '  - job_name: vigil',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: ${quoted(targets)}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(PROMETHEUS, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let gone = false;
  void exited.then(() => { gone = true; });
  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) {
      await stop();
      throw new Error(`prometheus exited before it was ready:\n${output.join('')}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within ${timeoutMs} ms:\n${output.join('')}`);
    }
    await pause(250);
  }
  return {
    url,
    child,
    output,
    stop,
    async query(promql: string) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await response.json()) as { status: string; data?: { resultType: string; result: PromSample[] }; error?: string };
      if (body.status !== 'success' || !body.data) throw new Error(`query ${promql} failed: ${response.status} ${body.error ?? ''}`);
      return body.data.result;
    },
  };
}
