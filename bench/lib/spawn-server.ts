// Starts a server under test as a child process, waits for the JSON line that carries its
// URL (`{"url": "http://..."}`, which pino's `vigil listening` line also has), tracks its
// memory while it runs, and stops it with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { RssSampler } from './rss.js';

export interface ServerCommand {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** How long to wait for the URL line (training a model at startup takes a while). */
  startTimeoutMs?: number;
}

/** The child said it cannot run here (a line starting with "SKIP") and exited. */
export class ServerSkipped extends Error {}

export interface StopResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Peak resident set size over the server's life, in kB (VmHWM). */
  peakRssKb: number;
  /** True when SIGTERM did not end it within the grace period and it was killed. */
  killed: boolean;
}

const TAIL_LINES = 40;
const live = new Set<ChildProcess>();

// Never leave servers behind, whatever way the harness ends.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class RunningServer {
  readonly rss: RssSampler;
  private readonly tail: string[] = [];
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  url = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    keepRssSamples: boolean,
  ) {
    this.rss = new RssSampler(child.pid!, keepRssSamples ? 1000 : 250, keepRssSamples).start();
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        live.delete(child);
        this.rss.stop();
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Null while running; the exit code/signal once it has exited. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.exitInfo;
  }

  remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }

  /** The last lines the server printed (stdout and stderr), for error messages. */
  logTail(lines = 12): string {
    return this.tail.slice(-lines).join('\n');
  }

  waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }

  async stop(graceMs = 10_000): Promise<StopResult> {
    this.rss.sample(); // last reading while /proc/<pid> still exists
    let killed = false;
    if (!this.exitInfo) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        killed = true;
        this.child.kill('SIGKILL');
      }, graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    const { code, signal } = this.exitInfo ?? (await this.exited);
    return { exitCode: code, signal, peakRssKb: this.rss.peakKb, killed };
  }
}

function urlFromLine(line: string): string | null {
  if (!line.startsWith('{')) return null;
  try {
    const obj = JSON.parse(line) as { url?: unknown };
    return typeof obj.url === 'string' && /^https?:\/\//.test(obj.url) ? obj.url : null;
  } catch {
    return null;
  }
}

export function startServer(name: string, cmd: ServerCommand, keepRssSamples = false): Promise<RunningServer> {
  const child = spawn(cmd.command, cmd.args, {
    cwd: cmd.cwd,
    env: cmd.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    return new Promise((_, reject) => {
      child.once('error', (err) => reject(new Error(`${name}: cannot start ${cmd.command}: ${err.message}`)));
    });
  }
  live.add(child);
  const server = new RunningServer(name, child, keepRssSamples);
  const timeoutMs = cmd.startTimeoutMs ?? 30_000;

  return new Promise<RunningServer>((resolve, reject) => {
    let settled = false;
    let skipLine: string | null = null;
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        child.kill('SIGKILL');
        reject(err);
      } else {
        resolve(server);
      }
    };
    const timer = setTimeout(
      () => settle(new Error(`${name}: no URL line within ${timeoutMs} ms\n${server.logTail()}`)),
      timeoutMs,
    );

    // Keep draining both pipes for the server's whole life: a full pipe would block its logger.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      server.remember(line);
      if (line.startsWith('SKIP')) skipLine = line;
      const url = urlFromLine(line);
      if (url && !server.url) {
        server.url = url.replace(/\/+$/, '');
        settle(null);
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => server.remember(line));

    child.once('error', (err) => settle(new Error(`${name}: ${err.message}`)));
    void server.waitExit().then(({ code, signal }) => {
      if (skipLine) settle(new ServerSkipped(skipLine));
      else settle(new Error(`${name}: exited (code ${code}, signal ${signal}) before listening\n${server.logTail()}`));
    });
  });
}
