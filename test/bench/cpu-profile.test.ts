// Charging CPU-profile samples to request stages: the rule table on representative frames
// (including paths the src/ restructure may introduce), a hand-built profile, and a real
// `node --cpu-prof` profile whose window is measured with this process's monotonic clock.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { attribute, parseCpuProfile, readCpuProfile, type CpuProfile } from '../../bench/lib/cpu-profile.js';
import { profileThreadId } from '../../bench/lib/stage-budget.js';
import { frameLabel, ruleFor } from '../../bench/lib/stage-map.js';

const DIST = 'file:///repo/dist';
const frame = (functionName: string, url = '') => ({ functionName, url });

describe('stage rules', () => {
  it.each([
    [frame('readJsonObject', `${DIST}/src/http/json-body.js`), 'main', 'decode'],
    [frame('parseJsonObject', `${DIST}/src/http/json-body.js`), 'main', 'decode'],
    [frame('countBins', `${DIST}/src/config/reference-bins.js`), 'worker', 'observe'],
    [frame('skimPredictFields', `${DIST}/src/http/predict-fields.js`), 'main', 'route'],
    [frame('writeRow', `${DIST}/src/validation/predict-rows.js`), 'main', 'decode'],
    [frame('validate15'), 'main', 'decode'],
    [frame('decodeBatch', `${DIST}/src/serving/row-decoder.js`), 'main', 'decode'],
    [frame('sendJson', `${DIST}/src/http/exchange.js`), 'main', 'encode'],
    [frame('predictions', `${DIST}/src/inference/predictions.js`), 'main', 'encode'],
    [frame('choose', `${DIST}/src/routing/split.js`), 'main', 'route'],
    [frame('observeRows', `${DIST}/src/monitoring/drift.js`), 'main', 'observe'],
    [frame('recordValue', 'file:///repo/node_modules/hdr-histogram-js/dist/JsHistogram.js'), 'main', 'observe'],
    [frame('postMessage'), 'main', 'hand-off'],
    [frame('queueFor', `${DIST}/src/inference/batcher.js`), 'main', 'hand-off'],
    [frame('run', 'file:///repo/node_modules/piscina/dist/index.js'), 'main', 'hand-off'],
    [frame('send', `${DIST}/src/http/exchange.js`), 'main', 'HTTP'],
    [frame('(program)'), 'main', 'HTTP'],
    [frame('(program)'), 'worker', 'other'],
    [frame('(garbage collector)'), 'main', 'GC'],
    [frame('run', 'file:///repo/node_modules/onnxruntime-node/dist/backend.js'), 'worker', 'inference'],
    [frame('run', `${DIST}/src/inference/ort-session.js`), 'worker', 'inference'],
    [frame('readRequest', `${DIST}/src/inference/slab.js`), 'worker', 'hand-off'],
  ] as const)('%o on the %s thread is %s', (f, thread, stage) => {
    expect(ruleFor(f, thread)?.stage).toBe(stage);
  });

  it('leaves frames of no stage to the caller walk (node internals, the data plane, natives)', () => {
    expect(ruleFor(frame('processTicksAndRejections', 'node:internal/process/task_queues'), 'main')).toBeUndefined();
    expect(ruleFor(frame('infer', `${DIST}/src/serving/data-plane.js`), 'main')).toBeUndefined();
    expect(ruleFor(frame('now'), 'main')).toBeUndefined();
  });
});

/** root -> (program) | (idle) | (GC) | POST handler -> readJsonObject, observeRows -> now, postMessage | data plane. */
function handBuilt(): CpuProfile {
  const node = (id: number, functionName: string, url: string, children: number[] = []) => ({
    id, callFrame: { functionName, url, lineNumber: 0 }, children,
  });
  return {
    nodes: [
      node(1, '(root)', '', [2, 3, 4, 5, 8]),
      node(2, '(program)', ''),
      node(3, '(idle)', ''),
      node(4, '(garbage collector)', ''),
      node(5, 'POST', `${DIST}/src/http/predict.js`, [6, 7, 9]),
      node(6, 'readJsonObject', `${DIST}/src/http/json-body.js`),
      node(7, 'observeRows', `${DIST}/src/monitoring/drift.js`, [10]),
      node(8, 'infer', `${DIST}/src/serving/data-plane.js`),
      node(9, 'postMessage', ''),
      node(10, 'now', ''),
    ],
    startTime: 1000,
    endTime: 2200,
    samples: [2, 3, 4, 5, 6, 6, 7, 10, 9, 8, 3],
    timeDeltas: Array(11).fill(100),
  };
}

describe('attribute', () => {
  it('counts a worker blocked in Atomics.wait for its next batch as idle, not as hand-off', () => {
    const node = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 0 }, children });
    const profile: CpuProfile = {
      nodes: [node(1, '(root)', '', [2]), node(2, 'serve', `${DIST}/src/inference/worker.js`, [3, 4]),
        node(3, 'waitFor', `${DIST}/src/inference/slab.js`), node(4, 'writeAnswer', `${DIST}/src/inference/slab.js`)],
      startTime: 0, endTime: 400, samples: [3, 3, 3, 4], timeDeltas: [100, 100, 100, 100],
    };
    const a = attribute([profile], 'worker');
    expect(a.idleSamples).toBe(3);
    expect(a.samples).toBe(1);
    expect(a.stages.find((s) => s.stage === 'hand-off')!.samples).toBe(1);
  });

  it('charges each sample to the first stage found from its leaf up, and keeps idle apart', () => {
    const a = attribute([handBuilt()], 'main');
    const by = Object.fromEntries(a.stages.map((s) => [s.stage, s.samples]));
    expect(by).toEqual({ decode: 2, route: 0, observe: 2, 'hand-off': 1, inference: 0, encode: 0, HTTP: 2, GC: 1, other: 1 });
    expect(a.samples).toBe(9);
    expect(a.idleSamples).toBe(2);
    expect(a.stages.find((s) => s.stage === 'observe')!.top.map((t) => t.frame)).toEqual(['observeRows src/monitoring/drift.js:1', 'now']);
  });

  it('counts only the samples inside the window (timestamps: start time plus the deltas so far)', () => {
    // Samples fall at 1100, 1200, ...; the window [1150, 1400] holds the 2nd to 4th.
    const a = attribute([handBuilt()], 'main', { fromUs: 1150, toUs: 1400 });
    expect(a.idleSamples).toBe(1);
    expect(a.samples).toBe(2);
  });

  it('refuses a file that is not a CPU profile, and one whose samples and deltas disagree', () => {
    expect(() => parseCpuProfile('{"nodes": []}', 'x.cpuprofile')).toThrow(/x.cpuprofile: not a V8 CPU profile/);
    const bad = { ...handBuilt(), timeDeltas: [1] };
    expect(() => parseCpuProfile(JSON.stringify(bad))).toThrow(/11 samples but 1 time deltas/);
  });
});

describe('a real node --cpu-prof profile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-prof-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('selects the interval this process timed and charges it to the spinning function’s stage', async () => {
    // The spinning function lives under src/monitoring/, so its samples are "observe".
    mkdirSync(join(dir, 'src', 'monitoring'), { recursive: true });
    const script = join(dir, 'src', 'monitoring', 'spin.mjs');
    writeFileSync(
      script,
      [
        'function spinObserving(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }',
        'console.log("start");',
        'spinObserving(1000);',
        'console.log("end");',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=500', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const window = { fromUs: 0, toUs: 0 };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const now = Number(process.hrtime.bigint() / 1000n);
      if (line === 'start') window.fromUs = now;
      if (line === 'end') window.toUs = now;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);

    const files = readdirSync(dir).filter((f) => profileThreadId(f, child.pid!) === 0);
    expect(files).toHaveLength(1);
    const a = attribute([readCpuProfile(join(dir, files[0]!))], 'main', window);
    expect(a.samples).toBeGreaterThan(0);
    const observe = a.stages.find((s) => s.stage === 'observe')!;
    expect(observe.top[0]!.frame).toMatch(/^spinObserving /);
    expect(observe.samples / a.samples).toBeGreaterThan(0.6);
  });
});

describe('frame labels', () => {
  it('name a package by its own path and Vigil’s code by its path under dist/', () => {
    expect(frameLabel({ functionName: 'postTask', url: 'file:///r/node_modules/piscina/dist/worker_pool/index.js', lineNumber: 9 })).toBe(
      'postTask piscina/dist/worker_pool/index.js:10',
    );
    expect(frameLabel({ functionName: 'send', url: 'file:///r/dist/src/http/exchange.js', lineNumber: 0 })).toBe('send src/http/exchange.js:1');
    expect(frameLabel({ functionName: '', url: '' })).toBe('(anonymous)');
  });
});
