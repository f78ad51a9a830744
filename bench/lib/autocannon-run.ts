// One load measurement with autocannon's programmatic API.
//
// Throughput counts 2xx responses only (a server answering 503 fast must not look fast);
// everything else is reported as errors. Latency is recorded by us from autocannon's
// 'response' events into a microsecond HDR histogram (autocannon's own histogram has 1 ms
// resolution, too coarse for a 1-2 ms p50); like autocannon, only 2xx latencies count.
import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** Request bodies, cycled per connection (one entry = the same body every time). */
  bodies: (string | Buffer)[];
}

export interface LoadOptions {
  url: string;
  request: LoadRequest;
  connections: number;
  durationS: number;
  /** Total requests per second across all connections (open-loop pacing); omit for closed loop. */
  overallRate?: number;
  /** Called once a second with the responses completed in that second. */
  onSecond?: (completed: number) => void;
}

type LatencyHistogram = hdr.Histogram;
export type LatencyMs = Measurement['latencyMs'];

/** A microsecond HDR histogram (1 µs to 60 s, 3 significant digits). */
function createLatencyHistogram(): LatencyHistogram {
  return hdr.build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000, // 60 s in µs
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Percentiles of a microsecond histogram, in ms. */
function latencySummary(h: LatencyHistogram): LatencyMs {
  const ms = (us: number): number => us / 1000;
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    mean: ms(h.mean),
    max: ms(h.maxValue),
  };
}

export interface Measurement {
  connections: number;
  durationS: number;
  /** 2xx responses per second. */
  requestsPerSecond: number;
  ok: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; mean: number; max: number };
  errors: { non2xx: number; socket: number; timeouts: number; total: number };
  statusCodes: Record<string, number>;
}

function requestsFor(req: LoadRequest): autocannon.Request[] {
  return req.bodies.map((body) => ({ method: req.method, path: req.path, headers: req.headers, body }));
}

export async function runLoad(opts: LoadOptions): Promise<Measurement> {
  const histogram = createLatencyHistogram();
  const instance = autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationS,
    timeout: 10,
    requests: opts.request.bodies.length > 0 ? requestsFor(opts.request) : undefined,
    method: opts.request.method,
    headers: opts.request.headers,
    overallRate: opts.overallRate,
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
    if (statusCode >= 200 && statusCode < 300) {
      const us = Math.max(1, Math.round(responseTimeMs * 1000));
      histogram.recordValue(us);
    }
  });
  if (opts.onSecond) {
    const onSecond = opts.onSecond;
    instance.on('tick', (t: { counter: number }) => onSecond(t.counter));
  }
  const result = await instance;
  const latencyMs = latencySummary(histogram);
  histogram.destroy();
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count;
  const ok = result['2xx'];
  const durationS = result.duration > 0 ? result.duration : opts.durationS;
  return {
    connections: opts.connections,
    durationS,
    requestsPerSecond: ok / durationS,
    ok,
    latencyMs,
    errors: {
      non2xx: result.non2xx,
      socket: result.errors,
      timeouts: result.timeouts,
      total: result.non2xx + result.errors,
    },
    statusCodes,
  };
}

/** One plain request, to prove the scenario works before loading it (and to show why not). */
export async function preflight(url: string, req: LoadRequest): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(url + req.path, {
      method: req.method,
      headers: req.headers,
      body: req.method === 'POST' ? req.bodies[0] : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    const detail = `${res.status} ${text.length > 300 ? text.slice(0, 300) + '…' : text}`;
    return { ok: res.ok, detail };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}
