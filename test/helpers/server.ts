// Starts the built gateway (`node dist/src/main.js`) as a child process on port 0, waits for
// its "vigil listening" log line, and hands back the URL, the stdout log lines and a stop().
// Tests run after `npm run build` (npm test's pretest does it).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollUntil } from './poll.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MAIN = resolve(ROOT, 'dist/src/main.js');
export const BUNDLED_MODELS = resolve(ROOT, 'models');
export const FIXTURE_MODELS = resolve(ROOT, 'test/fixtures/models');

export interface StartOptions {
  /** CLI arguments; `--port 0` is added unless a --port is given or `port: false`. */
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Add `--port 0` (default true, unless args already name --port). */
  port?: boolean;
  /** How long to wait for the listening line. */
  timeoutMs?: number;
  /** The command before the CLI arguments (default: this Node running dist/src/main.js). */
  command?: string[];
}

export interface LogLine {
  [key: string]: unknown;
  msg?: string;
  level?: number;
}

/**
 * The server's first log line that `match`es, once it has arrived: pino writes asynchronously,
 * so a line reaches stdout some time after the HTTP answer that follows it.
 */
export function logLine(server: RunningServer, what: string, match: (line: LogLine) => boolean): Promise<LogLine> {
  return pollUntil(`${what} log line`, () => server.logs().find(match), 30_000, 20);
}

export interface RunningServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** Raw stdout lines so far. */
  stdout: string[];
  stderr: string[];
  /** stdout lines that parsed as JSON (pino). */
  logs(): LogLine[];
  /** The parsed startup line. */
  startup: LogLine;
  /** Resolves with the exit code (or the signal name when killed by one). */
  exited: Promise<number | string>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | string>;
  /** Sends a signal without waiting (the exit is expected: no "exited unexpectedly" report). */
  signal(name: NodeJS.Signals): void;
  /** For afterAll: SIGTERM if still running, SIGKILL after `graceMs`; resolves once it is gone. */
  kill(graceMs?: number): Promise<void>;
}

export class ServerExitedError extends Error {
  constructor(readonly code: number | string, readonly stdout: string[], readonly stderr: string[]) {
    super(`vigil exited (${code}) before listening.\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`);
  }
}

function lineCollector(into: string[], onLine?: (line: string) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('utf8');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      into.push(line);
      onLine?.(line);
    }
  };
}

function parse(line: string): LogLine | null {
  try {
    const value = JSON.parse(line) as unknown;
    return value && typeof value === 'object' ? (value as LogLine) : null;
  } catch {
    return null;
  }
}

/**
 * Spawns the process without waiting for it to listen (CLI tests that expect an exit use it
 * directly). Both pipes are drained into line arrays from the start.
 */
export function spawnVigil(args: string[], env: Record<string, string | undefined> = {}, onStdoutLine?: (line: string) => void,
  command: string[] = [process.execPath, MAIN]) {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout!.on('data', lineCollector(stdout, onStdoutLine));
  child.stderr!.on('data', lineCollector(stderr));
  // 'close' (not 'exit') so every line written before exit has been collected.
  const exited = new Promise<number | string>((resolveExit) => {
    child.once('close', (code, signal) => resolveExit(code ?? signal ?? -1));
  });
  return { child, stdout, stderr, exited };
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const args = [...(options.args ?? [])];
  const hasPort = args.some((a) => a === '--port' || a.startsWith('--port='));
  if (options.port !== false && !hasPort) args.push('--port', '0');
  let onListening: (line: LogLine) => void = () => {};
  const { child, stdout, stderr, exited } = spawnVigil(args, options.env, (line) => {
    const parsed = parse(line);
    if (parsed?.msg === 'vigil listening' && typeof parsed.url === 'string') onListening(parsed);
  }, options.command);
  const listening = new Promise<LogLine>((resolveListening, rejectListening) => {
    onListening = resolveListening;
    void exited.then((code) => rejectListening(new ServerExitedError(code, stdout, stderr)));
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rejectTimeout) => {
    timer = setTimeout(() => rejectTimeout(new Error(
      `vigil did not log "vigil listening" within ${timeoutMs} ms.\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`)), timeoutMs);
  });
  let startup: LogLine;
  try {
    startup = await Promise.race([listening, timeout]);
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const url = startup.url as string;
  let stopping = false;
  // A server that dies on its own is a bug: say so with its last output, or every later test
  // fails with an unexplained ECONNREFUSED.
  void exited.then((code) => {
    if (stopping) return;
    const signalled = stdout.map(parse).find((l) => l?.msg === 'stopping: finishing in-flight requests');
    const cause = signalled ? ` after a ${String(signalled.signal)} this helper did not send (another process signalled it)` : '';
    process.stderr.write(`\n[vigil helper] server ${url} exited unexpectedly (${code})${cause}.\n` +
      `--- last stdout ---\n${stdout.slice(-20).join('\n')}\n--- stderr ---\n${stderr.slice(-60).join('\n')}\n`);
  });
  const running: RunningServer = {
    url,
    port: Number(new URL(url).port),
    child,
    stdout,
    stderr,
    startup,
    exited,
    logs: () => stdout.map(parse).filter((l): l is LogLine => l !== null),
    signal: (name) => {
      stopping = true;
      child.kill(name);
    },
    stop: () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async (graceMs = 5000) => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return running;
}

/** JSON POST helper (a string body is sent as is): status, headers, parsed body (json) and raw text. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readResponse(response);
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  return readResponse(await fetch(url, { headers }));
}

export async function readResponse(response: Response) {
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}
