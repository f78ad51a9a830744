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
import { LINGER_MS, LingerPolicy } from './linger.js';
import { openSession, type Feeds, type OrtSession } from './ort-session.js';
import { type ControlMessage, type ControlReply, type HeldVersion } from './protocol.js';
import { readRequest, Rings, SUBMITTED, writeAnswer, type BatchRequest, type Channel, type FeatureBins, type WorkerAnswer } from './slab.js';
import type { TensorData, WireTensor } from './tensors.js';

const sessions = new Map<string, Promise<OrtSession>>();
/** The same sessions once open: a batch takes its session without waiting on a promise. */
const opened = new Map<string, OrtSession>();
/**
 * Per version: the input whose rows drift watches, its columns' bin edges, and the counts of
 * the batch at hand (reused: they are copied into the answer's slot, zeroed for the next).
 */
const binnings = new Map<string, { input: string; layout: BinLayout; scratch: FeatureBins }>();

function sessionFor(key: string, path: string): Promise<OrtSession> {
  let session = sessions.get(key);
  if (!session) {
    session = openSession(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Failures are reported to the caller; ORT's own stderr line would only be noise.
      logSeverityLevel: 3,
    });
    sessions.set(key, session);
    // A failed load must not poison the cache: the next attempt retries.
    session.then((open) => { if (sessions.get(key) === session) opened.set(key, open); }, () => sessions.delete(key));
  }
  return session;
}

function load({ key, path, binning }: HeldVersion): Promise<unknown> {
  if (binning) {
    const layout = binLayout(binning.edges);
    binnings.set(key, { input: binning.input, layout, scratch: { counts: new Float64Array(layout.totalBins), nonFinite: new Float64Array(layout.columns) } });
  }
  return sessionFor(key, path);
}

async function unload(key: string): Promise<void> {
  const session = sessions.get(key);
  sessions.delete(key);
  opened.delete(key);
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

/** The bins of the batch's feature rows (the version's scratch), when it has a reference and the rows are floats. */
function featureBins(key: string, inputs: readonly WireTensor[]): FeatureBins | null {
  const binning = binnings.get(key);
  const tensor = binning && inputs.find((t) => t.name === binning.input);
  if (!binning || !tensor || !(tensor.data instanceof Float32Array || tensor.data instanceof Float64Array)) return null;
  const { layout, scratch } = binning;
  const width = layout.columns;
  const rows = tensor.data.length / width;
  if (!Number.isInteger(rows)) return null;
  scratch.counts.fill(0);
  scratch.nonFinite.fill(0);
  countBins(layout, tensor.data, rows, width, 0, width, scratch.counts, scratch.nonFinite);
  return scratch;
}

/** The batch's answer: at once on the direct path, once ORT or a first load settles otherwise. */
function runBatch(request: BatchRequest): WorkerAnswer | Promise<WorkerAnswer> {
  try {
    if (FAULTS !== null) {
      const values = (request.inputs[0]?.data ?? []) as { includes(value: unknown): boolean };
      if (values.includes(FAULTS.exit)) process.exit(70);
      if (values.includes(FAULTS.throw)) setTimeout(() => { throw new Error('injected fault: worker thread failing while idle'); }, 50);
    }
    const session = opened.get(request.key);
    // A version this worker has not loaded yet (a batch raced its load broadcast): load it first.
    if (!session) return sessionFor(request.key, request.path).then(() => runBatch(request), failed);
    const feeds: Feeds = {};
    for (const input of request.inputs) feeds[input.name] = new ort.Tensor(input.type, input.data as never, input.dims);
    const bins = request.countBins ? featureBins(request.key, request.inputs) : null;
    const results = session.run(feeds);
    return results instanceof Promise ? results.then((r) => answer(r, bins), failed) : answer(results, bins);
  } catch (error) {
    return failed(error);
  }
}

function answer(results: Record<string, ort.Tensor>, bins: FeatureBins | null): WorkerAnswer {
  const outputs: WireTensor[] = [];
  for (const name in results) {
    const tensor = results[name]!;
    outputs.push({ name, type: tensor.type as WireTensor['type'], dims: [...tensor.dims], data: tensor.data as TensorData });
  }
  return { ok: true, outputs, bins };
}

function failed(error: unknown): WorkerAnswer {
  return { ok: false, error: String((error as Error)?.message ?? error) };
}

/**
 * Waiting for the next batch. A worker that ran a batch within the last HOT_MS blocks on the
 * submit counter (Atomics.wait), so the next submission wakes it at once instead of through
 * its event loop (a wake-up it would otherwise pay per batch at low load). It blocks in slices
 * of SLICE_MS and lets the event loop turn between them, so a control message (load, unload,
 * sync) waits at most SLICE_MS per turn it needs. Idle longer than HOT_MS, it waits
 * asynchronously and costs no CPU at all. Before any of that, a worker the main thread asked
 * to linger polls for the next batch for a moment (linger.ts).
 */
const SLICE_MS = 2;
const HOT_MS = 50;

/** How long a worker the main thread rang polls for the batch the ring announced. */
const RING_SPIN_MS = 0.1;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Woken with nothing submitted: the main thread rang (Rings.ring) because a request has arrived
 * and its batch is being prepared. Polling for it keeps this thread's core awake, so the
 * wake-up from a halted core (tens of microseconds on a VM) overlaps the main thread's work
 * instead of following it. A ring with no batch after it (a refused request) costs RING_SPIN_MS.
 */
function awaitRungBatch(rings: Rings, submitted: number): void {
  if (rings.count(SUBMITTED) === submitted && !rings.stopped) rings.spinFor(SUBMITTED, submitted, RING_SPIN_MS);
}

/**
 * The one long task each worker runs: take the slots the main thread submits, in order, run
 * them, write the answers back. Sleeps on the submit counter only when nothing is waiting.
 * The pool hands a (re)started task empty rings, so it starts from the first submission.
 */
export default async function serve(task: { channel: Channel }): Promise<void> {
  const rings = new Rings(task.channel);
  let consumed = 0;
  let lastBatchAt = -Infinity;
  let lastTurnAt = performance.now();
  const lingering = new LingerPolicy();
  let linger = false;
  for (;;) {
    if (rings.stopped) return;
    const submitted = rings.count(SUBMITTED);
    if (consumed === submitted) {
      if (linger) {
        linger = false;
        const caught = rings.spinFor(SUBMITTED, submitted, LINGER_MS);
        lingering.record(caught);
        rings.lingered(caught);
        if (caught) continue;
      }
      if (performance.now() - lastBatchAt > HOT_MS) {
        await rings.changed(SUBMITTED, submitted);
        awaitRungBatch(rings, submitted);
      } else if (!rings.waitFor(SUBMITTED, submitted, SLICE_MS)) {
        await turn();
      } else {
        awaitRungBatch(rings, submitted);
        continue;
      }
      lastTurnAt = performance.now();
      continue;
    }
    // On the direct path a batch runs synchronously (ort-session.ts): under steady load the
    // event loop still turns every SLICE_MS, so a load or unload is not held up by traffic.
    if (performance.now() - lastTurnAt > SLICE_MS) {
      await turn();
      lastTurnAt = performance.now();
    }
    const slot = rings.submitted(consumed);
    const slab = task.channel.slots[slot]!;
    consumed = (consumed + 1) | 0;
    rings.started(consumed);
    let outcome: WorkerAnswer | Promise<WorkerAnswer>;
    try {
      outcome = runBatch(readRequest(slab));
    } catch (error) {
      outcome = failed(error);
    }
    const settled = outcome instanceof Promise ? await outcome : outcome;
    try {
      writeAnswer(slab, settled);
    } catch (error) {
      writeAnswer(slab, { ok: false, error: `cannot hand the outputs back: ${(error as Error).message}` });
    }
    rings.complete(slot);
    lastBatchAt = performance.now();
    linger = lingering.afterBatch(rings.lingerAsked());
  }
}
