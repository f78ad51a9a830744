// Optional JSON-lines log of sampled predictions for offline drift analysis. Written through
// an asynchronous pino destination so the request path only formats a line; rotated by size
// (FILE → FILE.1 → … → FILE.<keep>, the oldest dropped) so it cannot fill the disk; flushed on
// shutdown so no sampled line of an answered request is lost. A line that cannot be written
// (a client's `parameters` too deep to serialise, say) is skipped and counted: the prediction
// it describes was already answered, and logging must never turn it into an error.
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import pino from 'pino';

export interface PredictionLogEntry {
  request_id: string;
  model: string;
  version: string;
  role: 'live' | 'shadow';
  features: unknown;
  outputs: unknown;
  latency_ms: number;
}

export interface RotationOptions {
  /** Rotate once the current file reaches this many bytes (--prediction-log-max-bytes). */
  maxBytes: number;
  /** Rotated files kept (--prediction-log-keep). */
  keep: number;
}

type Destination = pino.DestinationStream & {
  flushSync(): void;
  end(): void;
  reopen(file?: string): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
};

export class PredictionLog {
  private readonly destination: Destination;
  private closed = false;
  private bytes = 0;
  /** Lines that could not be serialised (skipped, never an error for the request). */
  skipped = 0;
  /** Rotations so far. */
  rotations = 0;

  constructor(
    readonly file: string,
    readonly sampleRate: number,
    private readonly rotation: RotationOptions = { maxBytes: Infinity, keep: 1 },
    private readonly random: () => number = Math.random,
    private readonly onProblem: (message: string, error: unknown) => void = () => {},
  ) {
    // The file is appended to: a restart continues counting from its size.
    this.bytes = existsSync(file) ? statSync(file).size : 0;
    this.destination = pino.destination({ dest: file, sync: false, mkdir: true, minLength: 4096 }) as never;
    this.destination.on('error', (error) => this.onProblem('prediction log write failed', error));
  }

  /** Whether this request is one of the sampled ones (decide once per request). */
  sample(): boolean {
    return this.sampleRate >= 1 || (this.sampleRate > 0 && this.random() < this.sampleRate);
  }

  write(entry: PredictionLogEntry): void {
    if (this.closed) return;
    let line: string;
    try {
      line = `{"timestamp":"${new Date().toISOString()}",${JSON.stringify(entry).slice(1)}\n`;
    } catch (error) {
      if (this.skipped++ === 0) this.onProblem('prediction log line skipped (cannot be serialised); later ones are only counted', error);
      return;
    }
    const size = Buffer.byteLength(line);
    if (this.bytes > 0 && this.bytes + size > this.rotation.maxBytes) this.rotate();
    this.bytes += size;
    this.destination.write(line);
  }

  /**
   * Moves FILE to FILE.1 (and each FILE.n to FILE.n+1, dropping the oldest) and reopens FILE.
   * Lines already queued land in the renamed file, so none is split or lost across a rotation.
   */
  private rotate(): void {
    try {
      const keep = this.rotation.keep;
      rmSync(`${this.file}.${keep}`, { force: true });
      for (let n = keep - 1; n >= 1; n--) {
        if (existsSync(`${this.file}.${n}`)) renameSync(`${this.file}.${n}`, `${this.file}.${n + 1}`);
      }
      renameSync(this.file, `${this.file}.1`);
      this.destination.reopen();
      this.rotations++;
    } catch (error) {
      this.onProblem('prediction log rotation failed; writing on', error);
    }
    this.bytes = 0;
  }

  /** Flushes everything written so far and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.destination.on('close', () => resolve());
      this.destination.on('error', () => resolve());
      this.destination.end();
    });
  }
}
