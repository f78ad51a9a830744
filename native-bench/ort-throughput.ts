// The inference ceiling: raw in-process ONNX Runtime throughput per bundled model version at
// several batch sizes, with the session options Vigil's workers use (intraOpNumThreads 1,
// sequential execution). One thread, one session, the same input tensor reused: nothing but
// `session.run`.
//
// Usage: node dist/native-bench/ort-throughput.js [--models DIR] [--seconds S]
//        [--batches 1,8,32,128] [--only SUBSTRING] [--json]
// Prints a table, or with --json one JSON document (read by bench/run.ts).
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { listModelVersions, readHeldout, type ModelVersionFiles } from './lib/model-repo.js';
import { formatOrtTable, type OrtThroughputReport, type OrtThroughputRow } from './lib/ort-report.js';

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Feature count from the graph's input shape, else from the held-out rows. */
function featureCount(session: ort.InferenceSession, files: ModelVersionFiles): number {
  const meta = session.inputMetadata[0];
  if (meta?.isTensor) {
    const last = meta.shape.at(-1);
    if (typeof last === 'number' && last > 0) return last;
  }
  if (files.heldoutPath) return readHeldout(files.heldoutPath).featureNames.length;
  throw new Error(`${files.onnxPath}: cannot tell the feature count (no static shape, no heldout.json)`);
}

/** `batch` rows tiled from the held-out rows (or deterministic pseudo-data without them). */
function makeBatch(files: ModelVersionFiles, features: number, batch: number): Float32Array {
  const data = new Float32Array(batch * features);
  const rows = files.heldoutPath ? readHeldout(files.heldoutPath).rows : null;
  for (let r = 0; r < batch; r++) {
    for (let f = 0; f < features; f++) {
      data[r * features + f] = rows ? rows[r % rows.length]![f]! : ((r * 31 + f * 17) % 97) / 97;
    }
  }
  return data;
}

async function measurePoint(
  session: ort.InferenceSession,
  inputName: string,
  data: Float32Array,
  batch: number,
  features: number,
  seconds: number,
): Promise<{ calls: number; seconds: number }> {
  const feeds = { [inputName]: new ort.Tensor('float32', data, [batch, features]) };
  // Warm-up: first runs allocate arenas and pick kernels.
  const warmEnd = performance.now() + Math.min(200, seconds * 200);
  do await session.run(feeds);
  while (performance.now() < warmEnd);

  const start = performance.now();
  const end = start + seconds * 1000;
  let calls = 0;
  let now = start;
  while (now < end) {
    await session.run(feeds);
    calls++;
    now = performance.now();
  }
  return { calls, seconds: (now - start) / 1000 };
}

async function measureOrtThroughput(
  modelsDir: string,
  batches: number[],
  seconds: number,
  only?: string,
): Promise<OrtThroughputReport> {
  const results: OrtThroughputRow[] = [];
  const skipped: string[] = [];
  for (const files of listModelVersions(modelsDir)) {
    const id = `${files.model}/${files.version}`;
    if (only && !id.includes(only)) continue;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(files.onnxPath, SESSION_OPTIONS);
    } catch (err) {
      skipped.push(`${id}: ${(err as Error).message}`);
      continue;
    }
    try {
      const inputName = session.inputNames[0]!;
      const features = featureCount(session, files);
      for (const batch of batches) {
        const data = makeBatch(files, features, batch);
        const point = await measurePoint(session, inputName, data, batch, features, seconds);
        results.push({
          model: files.model,
          version: files.version,
          batch,
          calls: point.calls,
          seconds: point.seconds,
          usPerCall: (point.seconds * 1e6) / point.calls,
          rowsPerSecond: (point.calls * batch) / point.seconds,
        });
      }
    } catch (err) {
      skipped.push(`${id}: ${(err as Error).message}`);
    } finally {
      await session.release();
    }
  }
  return {
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    sessionOptions: { ...SESSION_OPTIONS },
    secondsPerPoint: seconds,
    results,
    skipped,
  };
}

async function main(): Promise<void> {
  const modelsDir = resolve(argValue('models') ?? 'models');
  const seconds = Number(argValue('seconds') ?? '1');
  const batches = (argValue('batches') ?? '1,8,32,128').split(',').map(Number);
  if (!(seconds > 0) || batches.some((b) => !Number.isInteger(b) || b < 1)) {
    throw new Error('--seconds must be > 0 and --batches a comma-separated list of positive integers');
  }
  const report = await measureOrtThroughput(modelsDir, batches, seconds, argValue('only'));
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  if (report.results.length === 0) {
    console.log(`no model versions measured under ${modelsDir}`);
  } else {
    console.log(`ONNX Runtime ${report.onnxruntime}, intraOpNumThreads 1, sequential, ${seconds} s per point`);
    console.log(formatOrtTable(report));
  }
  for (const s of report.skipped) console.log(`skipped ${s}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
