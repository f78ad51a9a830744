// Test helpers for alert delivery: a real Alertmanager (Debian package prometheus-alertmanager)
// on a free loopback port with clustering off and short grouping intervals, and an HTTP webhook
// receiver that records every notification it gets (Alertmanager's webhook JSON).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, pollUntil } from './prometheus.js';

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

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const messages: WebhookMessage[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        messages.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookMessage);
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface RunningAlertmanager {
  /** host:port, for Prometheus' alerting targets. */
  address: string;
  url: string;
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/** Starts Alertmanager routing every alert to `webhookUrl`, grouping by alertname and column. */
export async function startAlertmanager(webhookUrl: string): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-alertmanager-'));
  writeFileSync(join(dir, 'alertmanager.yml'), [
    'route:',
    '  receiver: test',
    '  group_by: [alertname, model, version, column]',
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
  const child = spawn(alertmanagerBinary(), [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
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
  const url = `http://127.0.0.1:${port}`;
  try {
    await pollUntil('alertmanager ready', async () => {
      if (child.exitCode !== null) throw new Error(`alertmanager exited:\n${output.join('')}`);
      return (await fetch(`${url}/-/ready`)).ok ? true : undefined;
    }, 30_000, 200);
  } catch (error) {
    await stop();
    throw error;
  }
  return { address: `127.0.0.1:${port}`, url, child, output, stop };
}
