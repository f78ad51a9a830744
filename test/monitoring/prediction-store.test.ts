import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PredictionStore, type PredictionRecord } from '../../src/monitoring/prediction-store.js';
import { mulberry32 } from '../helpers/random.js';
import { ROOT } from '../helpers/server.js';

const live = (version: string, labels: number[], probabilities?: number[]): PredictionRecord =>
  ({ version, role: 'live', rows: labels.length, labels, probabilities });

describe('PredictionStore', () => {
  it('joins a label to the live and shadow predictions of its row, once', () => {
    const store = new PredictionStore({}, () => 0);
    store.put('bc', 'req-1', live('1', [1, 0], [0.2, 0.8, 0.7, 0.3]), true); // mirrored: room for the shadow
    store.put('bc', 'req-1', { version: '2', role: 'shadow', rows: 2, labels: [1, 1], probabilities: [0.4, 0.6, 0.1, 0.9] });
    const first = store.match('bc', 'req-1', 1);
    expect(first.outcome).toBe('matched');
    if (first.outcome !== 'matched') return;
    expect(first.predictions).toEqual([
      { version: '1', role: 'live', label: 0, probabilities: [0.7, 0.3], value: null },
      { version: '2', role: 'shadow', label: 1, probabilities: [0.1, 0.9], value: null },
    ]);
    expect(store.match('bc', 'req-1', 1)).toEqual({ outcome: 'duplicate' });
    expect(store.match('bc', 'req-1', 0).outcome).toBe('matched');
    expect(store.match('bc', 'req-1', 2)).toMatchObject({ outcome: 'invalid', reason: expect.stringMatching(/instance 2 outside 0..1/) });
    expect(store.match('bc', 'req-1', 0.5)).toMatchObject({ outcome: 'invalid' });
    expect(store.match('bc', 'nope', 0)).toEqual({ outcome: 'unknown' });
    expect(store.match('other-model', 'req-1', 0)).toEqual({ outcome: 'unknown' });
    expect(store.stats()).toMatchObject({ entries: 1, rows: 2, stored: 2 });
  });

  it('stores regressor values, and copies what it keeps (a batch buffer is not retained or aliased)', () => {
    const store = new PredictionStore({}, () => 0);
    const batch = new Float64Array([10, 20, 30, 40]);
    store.put('diabetes', 'r', { version: '1', role: 'live', rows: 2, values: batch.subarray(1, 3) });
    batch.fill(0);
    const m = store.match('diabetes', 'r', 1);
    expect(m).toMatchObject({ outcome: 'matched', predictions: [{ version: '1', label: null, probabilities: null, value: 30 }] });
  });

  it('evicts the oldest entries beyond maxRows and expires entries after the TTL', () => {
    let now = 0;
    const store = new PredictionStore({ maxRows: 5, ttlSeconds: 10 }, () => now);
    store.put('m', 'a', live('1', [0, 0]));
    now = 1000;
    store.put('m', 'b', live('1', [1, 1]));
    now = 2000;
    store.put('m', 'c', live('1', [1, 0])); // 6 rows > 5: a goes
    expect(store.match('m', 'a', 0)).toEqual({ outcome: 'unknown' });
    expect(store.match('m', 'b', 0).outcome).toBe('matched');
    expect(store.stats()).toMatchObject({ entries: 2, rows: 4, evicted: 1 });
    now = 11_000; // b (stored at 1 s) is 10 s old: expired; c is 9 s old
    expect(store.match('m', 'b', 1)).toEqual({ outcome: 'unknown' });
    expect(store.match('m', 'c', 0).outcome).toBe('matched');
    now = 12_000;
    store.sweep();
    expect(store.stats()).toMatchObject({ entries: 0, rows: 0, expired: 2 });
  });

  it('replaces an entry whose request id is reused, and skips what it must not keep', () => {
    const store = new PredictionStore({ maxRows: 4, maxRequestIdLength: 8 }, () => 0);
    store.put('m', 'dup', live('1', [0]), true);
    expect(store.match('m', 'dup', 0).outcome).toBe('matched');
    store.put('m', 'dup', live('2', [1])); // a new prediction under the same id
    expect(store.match('m', 'dup', 0)).toMatchObject({ outcome: 'matched', predictions: [{ version: '2', label: 1 }] });
    store.put('m', 'x'.repeat(9), live('1', [0])); // id too long
    store.put('m', 'big', live('1', [0, 0, 0, 0, 0])); // more rows than the store
    store.put('m', 'orphan', { version: '2', role: 'shadow', rows: 1, labels: [0] }); // no live entry
    store.put('m', 'dup', { version: '3', role: 'shadow', rows: 1, labels: [0] }); // the new entry kept no room for a shadow
    // the replaced entry's row stays in the ring until it reaches the tail
    expect(store.stats()).toMatchObject({ entries: 1, rows: 2, skipped: 4 });
    expect(() => store.put('m', 'r', { version: '1', role: 'live', rows: 2, labels: [0] })).toThrow(/1 labels for 2 rows/);
    expect(() => store.put('m', 'r', { version: '1', role: 'live', rows: 2, probabilities: [0.1, 0.2, 0.3] })).toThrow(/3 probabilities for 2 rows/);
    expect(() => new PredictionStore({ maxRows: 0 })).toThrow(/maxRows/);
    expect(() => new PredictionStore({ ttlSeconds: -1 })).toThrow(/ttlSeconds/);
  });

  it('keeps room for the shadow with the live rows: a mirror evicts nothing, a mismatched one is skipped', () => {
    const store = new PredictionStore({ maxRows: 4 }, () => 0);
    store.put('m', 'old', live('1', [0, 0]));
    store.put('m', 'new', live('1', [1, 1], [0.1, 0.9, 0.2, 0.8]), true);
    store.put('m', 'new', { version: '2', role: 'shadow', rows: 2, labels: [0, 0], probabilities: [0.6, 0.4, 0.7, 0.3] });
    store.put('m', 'new', { version: '2', role: 'shadow', rows: 2, labels: [0, 0], probabilities: [0.6, 0.4, 0.7, 0.3] }); // answered already
    expect(store.match('m', 'old', 0).outcome).toBe('matched');
    expect(store.match('m', 'new', 1)).toEqual({ outcome: 'matched', predictions: [
      { version: '1', role: 'live', label: 1, probabilities: [0.2, 0.8], value: null },
      { version: '2', role: 'shadow', label: 0, probabilities: [0.7, 0.3], value: null },
    ] });
    store.put('m', 'other', live('1', [1], [0.5, 0.5]), true);
    store.put('m', 'other', { version: '2', role: 'shadow', rows: 1, values: [3] }); // not the live answer's layout
    expect(store.stats()).toMatchObject({ stored: 4, skipped: 2, evicted: 1, entries: 2, rows: 3 }); // 'other' took old's rows
  });

  it('returns exactly what was stored through ring wraps, growth, replacements and evictions (seeded)', () => {
    const r = mulberry32(11);
    const maxRows = 64;
    const store = new PredictionStore({ maxRows }, () => 0);
    const stored = new Map<string, { rows: number; classes: number; data: number[][] }>();
    let wrong = 0;
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      const rows = 1 + Math.floor(r() * 5);
      const classes = r() < 0.5 ? 2 : 10; // binary and digits-like layouts interleaved
      const id = `id-${Math.floor(r() * 3000)}`; // some ids reused
      const data = Array.from({ length: rows }, () => Array.from({ length: classes }, () => r()));
      store.put('m', id, { version: String(classes), role: 'live', rows, labels: data.map((row) => row.indexOf(Math.max(...row))), probabilities: data.flat() });
      stored.set(id, { rows, classes, data });
      const probe = `id-${Math.floor(r() * 3000)}`;
      const want = stored.get(probe);
      const instance = want ? Math.floor(r() * want.rows) : 0;
      const got = store.match('m', probe, instance);
      if (got.outcome !== 'matched') continue;
      matched++;
      const p = got.predictions[0]!;
      if (!want || p.version !== String(want.classes) || JSON.stringify(p.probabilities) !== JSON.stringify(want.data[instance])) wrong++;
    }
    expect(wrong).toBe(0);
    expect(matched).toBeGreaterThan(100);
    const stats = store.stats();
    expect(stats.rows).toBeLessThanOrEqual(maxRows);
    expect(stats.capacity).toBeLessThanOrEqual(maxRows * (1 + 1 + 10)); // flag, label, 10 probabilities
  });
});

describe('PredictionStore memory', () => {
  it('stays bounded over 1M predictions with 1 % labelled (heap measured after GC in a child process)', () => {
    // Runs the built module (npm test builds first) in a process with --expose-gc, so the heap
    // figures are after full collections and belong to this workload alone.
    const script = `
      import { PredictionStore } from ${JSON.stringify(join(ROOT, 'dist/src/monitoring/prediction-store.js'))};
      const random = (${mulberry32.toString()})(7);
      const maxRows = 100000;
      const used = () => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
      const base = used(); // before the store: its preallocated arrays count too
      const store = new PredictionStore({ maxRows, ttlSeconds: 3600 }, () => 0);
      const checkpoints = [];
      const outcomes = { matched: 0, unknown: 0, duplicate: 0, invalid: 0 };
      let maxEntries = 0;
      for (let i = 1; i <= 1000000; i++) {
        const p = random();
        // breast-cancer shaped answers: one row, a label and two probabilities, as /predict gives
        store.put('breast-cancer', 'a1b2c3d4-' + i.toString(16), { version: '1', role: 'live', rows: 1, labels: [p > 0.5 ? 1 : 0], probabilities: [1 - p, p] });
        if (random() < 0.01) {
          // labels mostly for recent requests, some for ones long evicted
          const back = random() < 0.8 ? Math.floor(random() * 50000) : 100000 + Math.floor(random() * 500000);
          outcomes[store.match('breast-cancer', 'a1b2c3d4-' + Math.max(1, i - back).toString(16), 0).outcome]++;
        }
        maxEntries = Math.max(maxEntries, store.stats().entries);
        if (i % 200000 === 0) checkpoints.push({ predictions: i, bytes: used() - base, ...store.stats() });
      }
      console.log(JSON.stringify({ checkpoints, outcomes, maxEntries, maxRows }));
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    const result = JSON.parse(out.trim().split('\n').pop()!) as {
      checkpoints: { predictions: number; bytes: number; entries: number; rows: number; evicted: number }[];
      outcomes: Record<string, number>; maxEntries: number; maxRows: number;
    };
    const first = result.checkpoints[0]!;
    const last = result.checkpoints.at(-1)!;
    console.log('prediction store, 1M single-row predictions, 1 % labelled:', result.checkpoints
      .map((c) => `${c.predictions}: ${c.entries} entries, ${(c.bytes / 1e6).toFixed(1)} MB`).join('; '),
    `| ${(last.bytes / result.maxRows).toFixed(0)} bytes per stored row | outcomes ${JSON.stringify(result.outcomes)}`);
    expect(result.maxEntries).toBe(result.maxRows);
    expect(last.rows).toBe(result.maxRows);
    expect(last.evicted).toBe(1_000_000 - result.maxRows);
    // Full at 200k predictions; another 800k leave the heap where it was (within 5 %).
    expect(Math.abs(last.bytes - first.bytes)).toBeLessThan(0.05 * first.bytes);
    expect(last.bytes / result.maxRows).toBeLessThan(120);
    expect(result.outcomes.matched).toBeGreaterThan(7000);
    expect(result.outcomes.unknown).toBeGreaterThan(1000);
  });
});
