// The servers of a run, started on first use and kept running until their last use (the
// scenarios table and the interleaved groups share them: a group needs all of its servers up
// at once). Handles the unavailable / failed-to-start cases once per server, restarts a server
// that exited in the middle of a run (at most twice), and on release collects Vigil's
// GET /stats, stops the server with SIGTERM and records its peak RSS.
import type { ServerRun } from './results.js';
import type { ServerId, ServerSpec } from './servers.js';
import { ServerSkipped, startServer, type RunningServer } from './spawn-server.js';

export type Acquired =
  | { ok: true; server: RunningServer }
  | { ok: false; status: 'skipped' | 'failed'; reason: string };

interface Entry {
  spec: ServerSpec;
  server: RunningServer | null;
  /** Set once the server cannot be (re)started: every later use gets this answer. */
  unusable: { status: 'skipped' | 'failed'; reason: string } | null;
  restarts: number;
  /** Peak RSS of earlier processes of this server (before a restart), kB. */
  earlierPeakRssKb: number;
  /** The pid that has had its long first warm-up. */
  warmedPid: number | undefined;
}

async function fetchStats(url: string): Promise<unknown> {
  try {
    const res = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? await res.json() : { status: res.status };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export class ServerPool {
  readonly runs: ServerRun[] = [];
  readonly notes: string[] = [];
  private readonly entries = new Map<ServerId, Entry>();

  constructor(
    private readonly specs: Map<ServerId, ServerSpec>,
    private readonly log: (line: string) => void,
  ) {}

  /** The running server, started (or restarted after an exit) if needed. */
  async acquire(id: ServerId): Promise<Acquired> {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { spec: this.specs.get(id)!, server: null, unusable: null, restarts: 0, earlierPeakRssKb: 0, warmedPid: undefined };
      this.entries.set(id, entry);
      const unavailable = entry.spec.unavailable();
      if (unavailable) {
        this.log(`SKIP ${id}: ${unavailable}`);
        return this.markUnusable(entry, 'skipped', unavailable);
      }
      return this.start(entry, false);
    }
    if (entry.unusable) return { ok: false, ...entry.unusable };
    const server = entry.server!;
    if (!server.exit) return { ok: true, server };

    // A crash (or a signal from outside the harness) must show, but need not cost the rest
    // of the run: note it with the server's last lines, restart it (at most twice).
    const exit = `${id} (pid ${server.pid}) exited during the run (code ${server.exit.code}, signal ${server.exit.signal})`;
    this.log(`${exit}; last lines:\n${server.logTail()}`);
    this.notes.push(`${exit}; see the progress log for its last lines`);
    entry.earlierPeakRssKb = Math.max(entry.earlierPeakRssKb, server.rss.peakKb);
    entry.server = null;
    if (entry.restarts >= 2) return this.markUnusable(entry, 'failed', `${exit}; restarted twice already`);
    entry.restarts++;
    return this.start(entry, true);
  }

  /**
   * Warm-up seconds for the next load on this server: a fresh process also needs its JIT, ORT
   * sessions and heap to settle, so its first warm-up is longer (twice the usual, at least
   * 2 s; the order in which servers are first used must not bias the ratios).
   */
  warmupFor(server: RunningServer, id: ServerId, warmupS: number): number {
    const entry = this.entries.get(id);
    if (!entry || entry.warmedPid === server.pid) return warmupS;
    entry.warmedPid = server.pid;
    return Math.max(2, warmupS * 2);
  }

  /** Stops the server (if it ran) and records it; later acquire() calls start it afresh. */
  async release(id: ServerId): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    const { spec, server } = entry;
    if (!server) {
      // Never ran (skipped / failed to start) or its last restart failed.
      if (entry.unusable && entry.earlierPeakRssKb === 0) {
        this.runs.push({ id, description: spec.description, ...entry.unusable });
      } else {
        this.runs.push({
          id,
          description: spec.description,
          status: 'failed',
          reason: entry.unusable?.reason,
          peakRssMb: entry.earlierPeakRssKb / 1024,
        });
      }
      spec.cleanup();
      return;
    }
    const stats = spec.kind === 'vigil' && !server.exit ? await fetchStats(server.url) : undefined;
    const stop = await server.stop();
    spec.cleanup();
    const peakRssMb = Math.max(stop.peakRssKb, entry.earlierPeakRssKb) / 1024;
    this.runs.push({ id, description: spec.description, status: 'ran', peakRssMb, exitCode: stop.exitCode, signal: stop.signal, stats });
    const clean = stop.exitCode === 0 && !stop.killed;
    this.log(
      `stopped ${id}: peak RSS ${peakRssMb.toFixed(1)} MB, ` +
        (clean ? 'exit 0' : `exit ${stop.exitCode ?? stop.signal}${stop.killed ? ' (killed after SIGTERM grace)' : ''}`),
    );
    if (!clean) {
      this.notes.push(`${id} did not exit cleanly on SIGTERM (exit ${stop.exitCode ?? stop.signal}${stop.killed ? ', killed' : ''})`);
    }
  }

  async releaseAll(): Promise<void> {
    for (const id of [...this.entries.keys()]) await this.release(id);
  }

  private markUnusable(entry: Entry, status: 'skipped' | 'failed', reason: string): Acquired {
    entry.unusable = { status, reason };
    return { ok: false, status, reason };
  }

  private async start(entry: Entry, restart: boolean): Promise<Acquired> {
    const id = entry.spec.id;
    try {
      entry.server = await startServer(id, entry.spec.prepare());
      this.log(`${restart ? 'restarted' : 'started'} ${id} (pid ${entry.server.pid}) at ${entry.server.url}`);
      return { ok: true, server: entry.server };
    } catch (err) {
      const skipped = err instanceof ServerSkipped;
      const reason = (err as Error).message;
      this.log(`${skipped ? 'SKIP' : 'FAILED'} ${restart ? 'restart of ' : ''}${id}: ${reason}`);
      entry.spec.cleanup();
      return this.markUnusable(entry, skipped ? 'skipped' : 'failed', skipped ? reason : reason.split('\n')[0]!);
    }
  }
}
