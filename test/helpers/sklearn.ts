// scikit-learn as the oracle for online performance: runs test/fixtures/oracles/score.py with
// Debian's python (python3-sklearn) on predictions a test collected from a running server.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server.js';

export const PYTHON = process.env.SKLEARN_PYTHON ?? '/usr/bin/python3';

export interface ScoreCase {
  task: 'binary-classification' | 'multiclass-classification' | 'regression';
  classes: number;
  actual: number[];
  predicted: number[];
  probabilities?: number[][];
}

export function sklearnMetrics(input: ScoreCase): Record<string, number | null> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: install Debian's python3-sklearn`);
  const result = spawnSync(PYTHON, [join(ROOT, 'test/fixtures/oracles/score.py')], { input: JSON.stringify(input), encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`score.py failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, number | null>;
}
