import { VigilError } from '../../src/errors.js';
import { describe, expect, it } from 'vitest';
import {
  CanaryGuard,
  LATENCY_BUCKETS,
  bucketValue,
  latencyBucket,
  validateGuardrailConfig,
  type GuardrailConfig,
} from '../../src/routing/guardrails.js';

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return {
    clock: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const base: GuardrailConfig = { enabled: true, window_seconds: 60, min_samples: 50, max_error_rate: 0.1 };

function feed(g: CanaryGuard, version: string, n: number, errorEvery: number, latencyMicros = 1000): void {
  for (let i = 0; i < n; i++) g.record(version, { ok: errorEvery === 0 || i % errorEvery !== 0, latencyMicros });
}

describe('validateGuardrailConfig', () => {
  it('is off by default and fills defaults', () => {
    expect(validateGuardrailConfig(undefined)).toEqual({ enabled: false, window_seconds: 300, min_samples: 100 });
    expect(validateGuardrailConfig({ enabled: true, min_agreement: 0.9 })).toEqual({
      enabled: true,
      window_seconds: 300,
      min_samples: 100,
      min_agreement: 0.9,
    });
  });

  it('names the field of a bad value', () => {
    const field = (json: unknown): string => {
      try {
        validateGuardrailConfig(json);
      } catch (e) {
        expect(e).toBeInstanceOf(VigilError);
        return (e as VigilError).field!;
      }
      throw new Error('expected an error');
    };
    expect(field({ enabled: 'yes' })).toBe('guardrails/enabled');
    expect(field({ min_samples: 0 })).toBe('guardrails/min_samples');
    expect(field({ min_samples: 2.5 })).toBe('guardrails/min_samples');
    expect(field({ window_seconds: 0 })).toBe('guardrails/window_seconds');
    expect(field({ max_error_rate: 1.5 })).toBe('guardrails/max_error_rate');
    expect(field({ max_p99_ratio: 0 })).toBe('guardrails/max_p99_ratio');
    expect(field({ min_agreement: -0.1 })).toBe('guardrails/min_agreement');
    expect(field({ typo: 1 })).toBe('guardrails/typo');
    expect(field({ enabled: true })).toBe('guardrails');
    expect(field([])).toBe('guardrails');
  });
});

describe('latency buckets', () => {
  it('are monotone and within ~3 % of the value', () => {
    let prev = -1;
    for (const v of [0, 1, 5, 31, 32, 33, 63, 64, 100, 999, 1000, 12_345, 1e6, 3.7e7, 2e9]) {
      const b = latencyBucket(v);
      expect(b).toBeGreaterThanOrEqual(prev);
      expect(b).toBeLessThan(LATENCY_BUCKETS);
      prev = b;
      if (v >= 1) expect(Math.abs(bucketValue(b) - v) / v).toBeLessThanOrEqual(1 / 32 + 1e-12);
    }
    expect(latencyBucket(Number.NaN)).toBe(0);
    expect(latencyBucket(-5)).toBe(0);
    expect(latencyBucket(1e12)).toBe(LATENCY_BUCKETS - 1);
  });
});

describe('CanaryGuard', () => {
  it('does nothing when disabled', () => {
    const t = fakeClock();
    const g = new CanaryGuard({ ...base, enabled: false }, t.clock);
    feed(g, '2', 500, 1); // all errors
    expect(g.evaluate('1', ['2'])).toEqual([]);
    expect(g.stats('2')).toBeNull();
  });

  it('trips on a high error rate only once min_samples is reached', () => {
    const t = fakeClock();
    const g = new CanaryGuard(base, t.clock);
    feed(g, '1', 200, 0);
    feed(g, '2', 49, 2); // 25 errors of 49
    expect(g.evaluate('1', ['2'])).toEqual([]);
    g.record('2', { ok: false, latencyMicros: 10 }); // 50th sample: 26/50 errors
    expect(g.evaluate('1', ['2'])).toEqual([
      { version: '2', reason: 'error_rate', value: 26 / 50, threshold: 0.1, samples: 50 },
    ]);
  });

  it('does not trip on a healthy canary (errors at or below the threshold)', () => {
    const t = fakeClock();
    const g = new CanaryGuard({ ...base, max_p99_ratio: 2, min_agreement: 0.9 }, t.clock);
    feed(g, '1', 1000, 20, 1000);
    feed(g, '2', 1000, 10, 1200); // exactly 10 % errors: not above 0.1
    for (let i = 0; i < 1000; i++) g.recordAgreement('2', i % 20 !== 0); // 95 %
    expect(g.evaluate('1', ['2'])).toEqual([]);
    const s = g.stats('2')!;
    expect(s.requests).toBe(1000);
    expect(s.errorRate).toBe(0.1);
    expect(s.agreementRatio).toBe(0.95);
    expect(Math.abs(s.p99Micros! - 1200) / 1200).toBeLessThan(0.04);
  });

  it('old samples expire from the window', () => {
    const t = fakeClock();
    const g = new CanaryGuard(base, t.clock); // 60 s window, 12 slices of 5 s
    feed(g, '2', 100, 1); // all errors
    expect(g.evaluate('1', ['2'])).toHaveLength(1);
    t.advance(50_000);
    expect(g.evaluate('1', ['2'])).toHaveLength(1); // still inside the window
    t.advance(15_000); // 65 s later: gone
    expect(g.evaluate('1', ['2'])).toEqual([]);
    expect(g.stats('2')!.requests).toBe(0);
    // New healthy samples alone are judged on their own.
    feed(g, '2', 100, 0);
    expect(g.evaluate('1', ['2'])).toEqual([]);
  });

  it('a window only partly expired keeps the newer samples', () => {
    const t = fakeClock(0);
    const g = new CanaryGuard(base, t.clock);
    feed(g, '2', 60, 1); // t=0: 60 errors
    t.advance(30_000);
    feed(g, '2', 60, 0); // t=30 s: 60 ok
    expect(g.evaluate('1', ['2'])[0]!.value).toBe(0.5);
    t.advance(35_000); // t=65 s: the first batch is out
    expect(g.stats('2')).toMatchObject({ requests: 60, errors: 0 });
    expect(g.evaluate('1', ['2'])).toEqual([]);
  });

  it('trips on the p99 ratio only when both canary and primary have samples', () => {
    const t = fakeClock();
    const g = new CanaryGuard({ enabled: true, window_seconds: 60, min_samples: 100, max_p99_ratio: 1.5 }, t.clock);
    feed(g, '2', 200, 0, 5000);
    expect(g.evaluate('1', ['2'])).toEqual([]); // primary has no samples
    feed(g, '1', 99, 0, 1000);
    expect(g.evaluate('1', ['2'])).toEqual([]);
    feed(g, '1', 1, 0, 1000);
    const trips = g.evaluate('1', ['2']);
    expect(trips).toHaveLength(1);
    expect(trips[0]!.reason).toBe('p99_ratio');
    expect(trips[0]!.value).toBeGreaterThan(4.8);
    expect(trips[0]!.value).toBeLessThan(5.2);
  });

  it('p99 looks at the tail, and failed requests do not count in it', () => {
    const t = fakeClock();
    const g = new CanaryGuard({ enabled: true, window_seconds: 60, min_samples: 100, max_p99_ratio: 1.5 }, t.clock);
    feed(g, '1', 1000, 0, 1000);
    feed(g, '2', 985, 0, 1000);
    for (let i = 0; i < 15; i++) g.record('2', { ok: true, latencyMicros: 20_000 }); // 1.5 % slow
    for (let i = 0; i < 500; i++) g.record('2', { ok: false, latencyMicros: 1 }); // fast failures
    const trips = g.evaluate('1', ['2']);
    expect(trips.map((x) => x.reason)).toEqual(['p99_ratio']);
    expect(trips[0]!.samples).toBe(1000);
  });

  it('trips on low agreement after min_samples comparisons', () => {
    const t = fakeClock();
    const g = new CanaryGuard({ enabled: true, window_seconds: 60, min_samples: 100, min_agreement: 0.9 }, t.clock);
    for (let i = 0; i < 99; i++) g.recordAgreement('2', i % 2 === 0);
    expect(g.evaluate('1', ['2'])).toEqual([]);
    g.recordAgreement('2', false);
    expect(g.evaluate('1', ['2'])).toEqual([{ version: '2', reason: 'agreement', value: 0.5, threshold: 0.9, samples: 100 }]);
  });

  it('judges each canary separately, never the primary, and reset forgets', () => {
    const t = fakeClock();
    const g = new CanaryGuard(base, t.clock);
    feed(g, '1', 100, 1);
    feed(g, '2', 100, 0);
    feed(g, '3', 100, 2);
    expect(g.evaluate('1', ['1', '2', '3']).map((x) => x.version)).toEqual(['3']);
    g.reset('3');
    expect(g.evaluate('1', ['2', '3'])).toEqual([]);
  });

  it('survives a clock that steps backwards', () => {
    const t = fakeClock();
    const g = new CanaryGuard(base, t.clock);
    feed(g, '2', 60, 1);
    t.advance(-120_000);
    feed(g, '2', 40, 1);
    expect(g.stats('2')!.requests).toBe(100);
  });
});
