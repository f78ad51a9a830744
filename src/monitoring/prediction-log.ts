// Optional JSON-lines log of sampled predictions for offline drift analysis. Written through
// an asynchronous pino destination so the request path only formats a line; flushed on
// shutdown so no sampled line of an answered request is lost.
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

export class PredictionLog {
  private readonly destination: pino.DestinationStream & { flushSync(): void; end(): void; on(event: string, cb: () => void): void };
  private closed = false;

  constructor(readonly file: string, readonly sampleRate: number, private readonly random: () => number = Math.random) {
    this.destination = pino.destination({ dest: file, sync: false, mkdir: true, minLength: 4096 }) as never;
  }

  /** Whether this request is one of the sampled ones (decide once per request). */
  sample(): boolean {
    return this.sampleRate >= 1 || (this.sampleRate > 0 && this.random() < this.sampleRate);
  }

  write(entry: PredictionLogEntry): void {
    if (this.closed) return;
    this.destination.write(`{"timestamp":"${new Date().toISOString()}",${JSON.stringify(entry).slice(1)}\n`);
  }

  /** Flushes everything written so far and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.destination.on('close', resolve);
      this.destination.on('error', resolve);
      this.destination.end();
    });
  }
}
