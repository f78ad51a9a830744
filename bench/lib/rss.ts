// Resident memory of a server process, read from /proc/<pid>/status (Linux).
// VmHWM is the kernel's own peak-RSS mark; VmRSS the current value, sampled for soak curves.
import { readFileSync } from 'node:fs';

export interface ProcMemory {
  rssKb: number;
  hwmKb: number;
}

export function readProcMemory(pid: number): ProcMemory | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null; // gone, or not Linux
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

export interface RssSample {
  /** Seconds since the sampler started. */
  t: number;
  rssKb: number;
}

/** Polls a process's memory; keeps the peak (VmHWM and sampled VmRSS) and, optionally, every sample. */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  private started = 0;
  peakKb = 0;
  readonly samples: RssSample[] = [];

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 250,
    private readonly keepSamples = false,
  ) {}

  start(): this {
    this.started = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Starts keeping samples from now on (and forgets earlier ones). */
  resetSamples(): void {
    this.samples.length = 0;
    this.started = Date.now();
  }

  sample(): ProcMemory | null {
    const mem = readProcMemory(this.pid);
    if (!mem) return null;
    this.peakKb = Math.max(this.peakKb, mem.hwmKb, mem.rssKb);
    if (this.keepSamples) this.samples.push({ t: (Date.now() - this.started) / 1000, rssKb: mem.rssKb });
    return mem;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
