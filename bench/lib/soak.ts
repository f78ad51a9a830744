// Soak: Vigil's memory under steady load. Measure the peak req/s of /predict breast-cancer
// @64, then offer 50 % of it (autocannon overallRate, open loop) for the soak length while
// sampling VmRSS every second; growth is from the middle (minute 1 of 2) to the end.
import { BASE_MODEL, HEADLINE_CONNECTIONS } from '../groups.js';
import { preflight, runLoad } from './autocannon-run.js';
import { predictRequest } from './bodies.js';
import type { SoakResult } from './results.js';
import type { ServerSpec } from './servers.js';
import { startServer } from './spawn-server.js';

export interface SoakOptions {
  modelsDir: string;
  seconds: number;
  warmupS: number;
  peakS: number;
  log: (line: string) => void;
}

/** The sample nearest to time t (seconds); samples are in time order. */
function nearest(samples: { t: number; rssKb: number }[], t: number): { t: number; rssKb: number } {
  return samples.reduce((best, s) => (Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best), samples[0]!);
}

export async function runSoak(spec: ServerSpec, o: SoakOptions): Promise<SoakResult> {
  const unavailable = spec.unavailable();
  if (unavailable) throw new Error(`soak needs Vigil: ${unavailable}`);
  const request = predictRequest(o.modelsDir, BASE_MODEL);
  if (!request) throw new Error(`soak needs ${BASE_MODEL}'s held-out rows under ${o.modelsDir}`);

  const server = await startServer(spec.id, spec.prepare(), true);
  try {
    o.log(`started ${spec.id} (pid ${server.pid}) at ${server.url}`);
    const check = await preflight(server.url, request);
    if (!check.ok) throw new Error(`preflight failed: ${check.detail}`);
    const c = HEADLINE_CONNECTIONS;
    await runLoad({ url: server.url, request, connections: c, durationS: o.warmupS });
    const peak = await runLoad({ url: server.url, request, connections: c, durationS: o.peakS });
    const rate = Math.max(1, Math.round(peak.requestsPerSecond / 2));
    o.log(`peak ${Math.round(peak.requestsPerSecond)} req/s; soaking ${o.seconds} s at ${rate} req/s`);

    server.rss.resetSamples();
    let second = 0;
    const achieved = await runLoad({
      url: server.url,
      request,
      connections: c,
      durationS: o.seconds,
      overallRate: rate,
      onSecond: (done) => {
        second++;
        if (second % 15 === 0) {
          const last = server.rss.samples.at(-1);
          o.log(`  ${second} s: ${done} req in the last second, RSS ${last ? (last.rssKb / 1024).toFixed(1) : '?'} MB`);
        }
      },
    });
    server.rss.sample();
    const samples = server.rss.samples.filter((s) => s.t <= o.seconds + 1);
    if (samples.length < 3) throw new Error('too few RSS samples (is /proc available?)');
    const mid = nearest(samples, o.seconds / 2);
    const end = samples.at(-1)!;
    const stop = await server.stop();
    spec.cleanup();
    return {
      durationS: o.seconds,
      peakRequestsPerSecond: peak.requestsPerSecond,
      targetRate: rate,
      achieved,
      rssSamples: samples,
      rssAtMinute1Mb: mid.rssKb / 1024,
      rssAtEndMb: end.rssKb / 1024,
      growthPercent: ((end.rssKb - mid.rssKb) / mid.rssKb) * 100,
      peakRssMb: stop.peakRssKb / 1024,
      exitCode: stop.exitCode,
      signal: stop.signal,
    };
  } finally {
    if (!server.exit) await server.stop();
    spec.cleanup();
  }
}
