// The informational comparisons the bench reads from servers' /stats rather than from arms.
import { describe, expect, it } from 'vitest';
import { compare } from '../../bench/lib/targets.js';
import type { ServerRun } from '../../bench/lib/results.js';

const MIRRORS = 'shadow v2 100 %: mirrors answered ÷ requests v1 answered';

// The shape of GET /stats as the 2026-11-29T01-56-56Z run recorded it (numbers trimmed).
const shadowedStats = {
  models: {
    'breast-cancer': {
      traffic: { weights: { 1: 90, 2: 10 }, shadow: { version: '2', percent: 100 } },
      versions: {
        1: { roles: { live: { requests: 1000, errors: {} } } },
        2: { roles: { live: { requests: 111, errors: {} }, shadow: { requests: 400, errors: {} } } },
      },
    },
  },
};

const run = (id: ServerRun['id'], stats: unknown) =>
  compare({ groups: [], servers: [{ id, description: '', status: 'ran', stats }], soak: undefined, ort: undefined, mode: 'targets' });

describe('the shadow arm’s mirrored share', () => {
  it('divides the shadow answers by the live answers of the mirrored versions only', () => {
    const row = run('vigil-shadow-on', shadowedStats).find((c) => c.name === MIRRORS);
    expect(row?.value).toBe(0.4);
    expect(row?.detail).toContain('400 / 1,000');
  });

  it('is left out when the server has no shadow or no stats', () => {
    const unshadowed = structuredClone(shadowedStats) as { models: Record<string, { traffic: object }> };
    unshadowed.models['breast-cancer']!.traffic = { weights: { 1: 90, 2: 10 } };
    expect(run('vigil-shadow-on', unshadowed).some((c) => c.name === MIRRORS)).toBe(false);
    expect(run('vigil-shadow-on', undefined).some((c) => c.name === MIRRORS)).toBe(false);
    expect(run('vigil', shadowedStats).some((c) => c.name === MIRRORS)).toBe(false);
  });
});
