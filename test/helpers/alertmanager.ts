// Test helpers for alert delivery: a real Alertmanager (Debian package prometheus-alertmanager)
// on a free loopback port with clustering off and short grouping intervals, and an HTTP webhook
// receiver that records every notification it gets (Alertmanager's webhook JSON).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { pollUntil } from './poll.js';
import { startWebhookReceiver as startRecordingReceiver } from './webhook-receiver.js';

const CANDIDATES = [process.env.ALERTMANAGER_BIN, '/usr/bin/prometheus-alertmanager', '/usr/bin/alertmanager'];

export function alertmanagerBinary(): string {
  const found = CANDIDATES.find((path): path is string => !!path && existsSync(path));
  if (!found) throw new Error('Alertmanager is missing: install the Debian package prometheus-alertmanager (.ci/run does)');
  return found;
}

/** One webhook notification as Alertmanager sends it. */
export interface WebhookMessage {
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string }[];
}

export interface WebhookReceiver {
  url: string;
  messages: WebhookMessage[];
  close(): Promise<void>;
}

/** The recording receiver of webhook-receiver.ts, its bodies read as Alertmanager messages. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const receiver = await startRecordingReceiver();
  return {
    url: receiver.url,
    get messages() {
      return receiver.received.map((r) => r.body as WebhookMessage);
    },
    close: () => receiver.close(),
  };
}

export interface RunningAlertmanager {
  /** host:port, for Prometheus' alerting targets. */
  address: string;
  url: string;
  child: ChildProcess;
  output: string[];
  /** POST /api/v2/alerts */
  post(alerts: unknown[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts Alertmanager routing every alert to `webhookUrl`, grouping by `groupBy` (default
 * alertname, model, version and column).
 */
export async function startAlertmanager(
  webhookUrl: string,
  groupBy: readonly string[] = ['alertname', 'model', 'version', 'column'],
): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-alertmanager-'));
  writeFileSync(join(dir, 'alertmanager.yml'), [
    'route:',
    '  receiver: test',
    `  group_by: [${groupBy.join(', ')}]`,
    '  group_wait: 1s',
    '  group_interval: 1s',
    '  repeat_interval: 1h',
    'receivers:',
    '  - name: test',
    '    webhook_configs:',
    `      - url: '${webhookUrl}'`,
    '        send_resolved: true',
    '',
  ].join('\n'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(alertmanagerBinary(), [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=${url}`,
    '--cluster.listen-address=', // no gossip port: a single instance
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pollUntil('alertmanager ready', async () => {
      if (child.exitCode !== null) throw new Error(`alertmanager exited:\n${output.join('')}`);
      return (await fetch(`${url}/-/ready`)).ok ? true : undefined;
    }, 30_000, 200);
  } catch (error) {
    await stop();
    throw error;
  }
  const post = async (alerts: unknown[]) => {
    const response = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts),
    });
    if (!response.ok) throw new Error(`alertmanager refused alerts: ${response.status} ${await response.text()}`);
  };
  return { address: `127.0.0.1:${port}`, url, child, output, post, stop };
}
