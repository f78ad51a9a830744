// Runs native-bench/ort-throughput.js in its own process (ORT never loads into the load
// generator) and reads its JSON report.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { OrtThroughputReport } from '../../native-bench/lib/ort-report.js';
import { ORT_THROUGHPUT } from './paths.js';

const run = promisify(execFile);

export async function measureOrtCeiling(modelsDir: string, secondsPerPoint: number): Promise<OrtThroughputReport> {
  if (!existsSync(ORT_THROUGHPUT)) throw new Error(`${ORT_THROUGHPUT} is missing (npm run build)`);
  const { stdout } = await run(
    process.execPath,
    [ORT_THROUGHPUT, '--models', modelsDir, '--seconds', String(secondsPerPoint), '--json'],
    { maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60 * 1000 },
  );
  return JSON.parse(stdout) as OrtThroughputReport;
}
