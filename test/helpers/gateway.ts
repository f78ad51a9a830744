// The gateway in the test's own process: the built Gateway with options parsed from CLI flags,
// a pino logger that keeps its lines in memory (written synchronously, so a line is there as
// soon as the code has logged it), and optionally manual time, a clock and periodic checks
// that move only when the test says so. Faster than a child process, and exact where a spawned
// server would need waiting on its timers.
import pino from 'pino';
import type { Gateway as GatewayClass, GatewayTime } from '../../src/gateway.js';
// From dist (built by `npm test`'s pretest): the worker pool loads worker.js next to itself.
import { Gateway } from '../../dist/src/gateway.js';
import { parseOptions } from '../../dist/src/options.js';
import type { LogLine } from './server.js';

/**
 * Time that stands still until advance(): the monitoring clock reads `now`, and each periodic
 * check runs (awaited) whenever advance() carries the clock past its next due time.
 */
export class ManualTime implements GatewayTime {
  now: number;
  private readonly tasks: { periodMs: number; due: number; task: () => Promise<void>; stopped: boolean }[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.now = start;
  }

  readonly clock = (): number => this.now;

  readonly every = (periodMs: number, task: () => Promise<void>): (() => void) => {
    const entry = { periodMs, due: this.now + periodMs, task, stopped: false };
    this.tasks.push(entry);
    return () => {
      entry.stopped = true;
    };
  };

  /** Moves the clock `ms` forward, running every periodic check that falls due, in time order. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      const next = this.tasks.filter((t) => !t.stopped && t.due <= end).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.now = next.due;
      next.due += next.periodMs;
      await next.task();
    }
    this.now = end;
  }
}

export interface InProcessGateway {
  gateway: GatewayClass;
  url: string;
  port: number;
  /** Every log line so far, parsed. */
  logs: LogLine[];
  /** Drains and stops (what SIGTERM does in the CLI). */
  stop(): Promise<void>;
}

export interface GatewayStartOptions {
  /** Manual time; real timers and Date.now() without it. */
  time?: ManualTime;
  /** The VIGIL_* environment the options are parsed with (the test process's own is ignored). */
  env?: Record<string, string>;
}

/**
 * Starts a gateway on a free port with one worker (flags in `args` override both) and the info
 * log level. Resolves once it listens.
 */
export async function startGateway(args: string[], options: GatewayStartOptions = {}): Promise<InProcessGateway> {
  const parsed = parseOptions(['--port', '0', '--workers', '1', '--log-level', 'info', ...args], options.env ?? {});
  const logs: LogLine[] = [];
  const logger = pino({ level: parsed.logLevel, base: { service: 'vigil' } }, {
    write: (line: string) => {
      logs.push(JSON.parse(line) as LogLine);
    },
  });
  const gateway: GatewayClass = new Gateway(parsed, logger, options.time ?? {});
  let url: string;
  try {
    url = await gateway.start();
  } catch (error) {
    await gateway.stop();
    throw error;
  }
  return { gateway, url, port: gateway.port, logs, stop: () => gateway.stop() };
}
