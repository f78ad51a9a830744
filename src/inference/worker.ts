// Inference worker: the only place ONNX Runtime sessions live. One session per model version
// per worker, created when the pool broadcasts a load (or lazily on a first batch that names a
// version this worker has not seen), run sequentially with one intra-op thread so that
// parallelism comes from the pool, not from ORT spinning threads against each other.
// The worker serves the batches the main thread puts in its shared slots (slab.ts) for as long
// as the pool lives; with drift monitoring on, it also counts the bins of each batch's feature
// rows, which sit here in one typed array anyway.
import { BroadcastChannel, threadId } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { Piscina } from 'piscina';
import { binLayout, countBins, type BinLayout } from '../config/reference-bins.js';
import { type ControlMessage, type ControlReply, type HeldVersion } from './protocol.js';
import { readRequest, Rings, SUBMITTED, writeAnswer, type BatchAnswer, type Channel, type FeatureBins } from './slab.js';
import type { TensorData, WireTensor } from './tensors.js';

const sessions = new Map<string, Promise<ort.InferenceSession>>();
/** Per version: the input whose rows drift watches, and its columns' bin edges. */
const binnings = new Map<string, { input: string; width: number; layout: BinLayout }>();

function sessionFor(key: string, path: string): Promise<ort.InferenceSession> {
  let session = sessions.get(key);
  if (!session) {
    session = ort.InferenceSession.create(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Failures are reported to the caller; ORT's own stderr line would only be noise.
      logSeverityLevel: 3,
    });
    sessions.set(key, session);
    // A failed load must not poison the cache: the next attempt retries.
    session.catch(() => sessions.delete(key));
  }
  return session;
}

function load({ key, path, binning }: HeldVersion): Promise<unknown> {
  if (binning) binnings.set(key, { input: binning.input, width: binning.edges.length, layout: binLayout(binning.edges) });
  return sessionFor(key, path);
}

async function unload(key: string): Promise<void> {
  const session = sessions.get(key);
  sessions.delete(key);
  binnings.delete(key);
  if (session) await (await session).release();
}

const control = new BroadcastChannel((Piscina.workerData as { channel: string }).channel);
control.onmessage = (event: unknown) => {
  // An exception here would kill the thread outside any task: answer it as this message's error.
  const message = (event as { data: ControlMessage | ControlReply }).data;
  const reply = (error?: unknown) => {
    if (!('requestId' in message)) return;
    const answer: ControlReply = {
      op: 'ack', requestId: message.requestId, threadId,
      error: error === undefined ? undefined : String((error as Error)?.message ?? error),
    };
    control.postMessage(answer);
  };
  try {
    if (message.op === 'load') load(message).then(() => reply(), reply);
    else if (message.op === 'unload') unload(message.key).then(() => reply(), reply);
    else if (message.op === 'ping') reply();
    else if (message.op === 'sync' && message.threadId === threadId) Promise.all(message.versions.map(load)).then(() => reply(), reply);
  } catch (error) {
    reply(error);
  }
};
// The channel must not keep a worker alive once piscina wants it gone.
(control as unknown as { unref?: () => void }).unref?.();
// A new thread (a replacement for one that died, too) loads every served version at once.
control.postMessage({ op: 'hello', threadId } satisfies ControlReply);

/**
 * Test-only fault injection, read once and only when set (VIGIL_TEST_WORKER_FAULT="exit:N,throw:M"):
 * a batch whose first input holds the value N makes this thread exit mid-batch, as a crash in
 * native code would; one holding M is answered, then the thread throws from a timer, dying
 * while idle. Never set in production; one comparison per batch when unset.
 */
const FAULTS = parseFaults(process.env.VIGIL_TEST_WORKER_FAULT);

function parseFaults(spec: string | undefined): { exit: number; throw: number } | null {
  if (!spec) return null;
  const fields = new Map(spec.split(',').map((field) => field.split(':') as [string, string]));
  return { exit: Number(fields.get('exit')), throw: Number(fields.get('throw')) };
}

/** The bins of the batch's feature rows, when the version has a reference and the rows are floats. */
function featureBins(key: string, inputs: readonly WireTensor[]): FeatureBins | null {
  const binning = binnings.get(key);
  const tensor = binning && inputs.find((t) => t.name === binning.input);
  if (!binning || !tensor || !(tensor.data instanceof Float32Array || tensor.data instanceof Float64Array)) return null;
  const { layout, width } = binning;
  const rows = tensor.data.length / width;
  if (!Number.isInteger(rows)) return null;
  const bins = { counts: new Float64Array(layout.totalBins), nonFinite: new Float64Array(width) };
  countBins(layout, tensor.data, rows, width, 0, width, bins.counts, bins.nonFinite);
  return bins;
}

async function runBatch(slot: SharedArrayBuffer): Promise<BatchAnswer> {
  try {
    const request = readRequest(slot);
    if (FAULTS !== null) {
      const values = (request.inputs[0]?.data ?? []) as { includes(value: unknown): boolean };
      if (values.includes(FAULTS.exit)) process.exit(70);
      if (values.includes(FAULTS.throw)) setTimeout(() => { throw new Error('injected fault: worker thread failing while idle'); }, 50);
    }
    const session = await sessionFor(request.key, request.path);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of request.inputs) feeds[input.name] = new ort.Tensor(input.type, input.data as never, input.dims);
    const bins = request.countBins ? featureBins(request.key, request.inputs) : null;
    const results = await session.run(feeds);
    const outputs: WireTensor[] = [];
    for (const [name, tensor] of Object.entries(results)) {
      outputs.push({ name, type: tensor.type as WireTensor['type'], dims: [...tensor.dims], data: tensor.data as TensorData });
    }
    return { ok: true, outputs, bins };
  } catch (error) {
    return { ok: false, error: String((error as Error)?.message ?? error) };
  }
}

/**
 * Waiting for the next batch. A worker that ran a batch within the last HOT_MS blocks on the
 * submit counter (Atomics.wait), so the next submission wakes it at once instead of through
 * its event loop (a wake-up it would otherwise pay per batch at low load). It blocks in slices
 * of SLICE_MS and lets the event loop turn between them, so a control message (load, unload,
 * sync) waits at most SLICE_MS per turn it needs. Idle longer than HOT_MS, it waits
 * asynchronously and costs no CPU at all.
 */
const SLICE_MS = 2;
const HOT_MS = 50;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The one long task each worker runs: take the slots the main thread submits, in order, run
 * them, write the answers back. Sleeps on the submit counter only when nothing is waiting.
 * The pool hands a (re)started task empty rings, so it starts from the first submission.
 */
export default async function serve(task: { channel: Channel }): Promise<void> {
  const rings = new Rings(task.channel);
  let consumed = 0;
  let lastBatchAt = -Infinity;
  for (;;) {
    if (rings.stopped) return;
    const submitted = rings.count(SUBMITTED);
    if (consumed === submitted) {
      if (performance.now() - lastBatchAt > HOT_MS) await rings.changed(SUBMITTED, submitted);
      else if (!rings.waitFor(SUBMITTED, submitted, SLICE_MS)) await turn();
      continue;
    }
    const slot = rings.submitted(consumed);
    consumed = (consumed + 1) | 0;
    rings.started(consumed);
    const answer = await runBatch(task.channel.slots[slot]!);
    try {
      writeAnswer(task.channel.slots[slot]!, answer);
    } catch (error) {
      writeAnswer(task.channel.slots[slot]!, { ok: false, error: `cannot hand the outputs back: ${(error as Error).message}` });
    }
    rings.complete(slot);
    lastBatchAt = performance.now();
  }
}
