// Piscina worker: the only place ONNX Runtime sessions live. One session per model version
// per worker, created when the pool broadcasts a load (or lazily on a first task that names a
// version this worker has not seen), run sequentially with one intra-op thread so that
// parallelism comes from the pool, not from ORT spinning threads against each other.
import { BroadcastChannel, threadId } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { Piscina } from 'piscina';
import { transferables, type TensorData, type WireTensor } from './tensors.js';
import { type ControlMessage, type ControlReply, type RunTask, type RunResult } from './protocol.js';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

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

async function unload(key: string): Promise<void> {
  const session = sessions.get(key);
  sessions.delete(key);
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
    if (message.op === 'load') sessionFor(message.key, message.path).then(() => reply(), reply);
    else if (message.op === 'unload') unload(message.key).then(() => reply(), reply);
    else if (message.op === 'ping') reply();
    else if (message.op === 'sync' && message.threadId === threadId) {
      Promise.all(message.versions.map(([key, path]) => sessionFor(key, path))).then(() => reply(), reply);
    }
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

export default async function run(task: RunTask): Promise<RunResult> {
  if (FAULTS !== null) {
    const values = (task.inputs[0]?.data ?? []) as { includes(value: unknown): boolean };
    if (values.includes(FAULTS.exit)) process.exit(70);
    if (values.includes(FAULTS.throw)) setTimeout(() => { throw new Error('injected fault: worker thread failing while idle'); }, 50);
  }
  const session = await sessionFor(task.key, task.path);
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of task.inputs) {
    feeds[input.name] = new ort.Tensor(input.type, input.data as never, input.dims);
  }
  const results = task.outputNames
    ? await session.run(feeds, task.outputNames)
    : await session.run(feeds);
  const outputs: WireTensor[] = [];
  for (const [name, tensor] of Object.entries(results)) {
    outputs.push({ name, type: tensor.type as WireTensor['type'], dims: [...tensor.dims], data: tensor.data as TensorData });
  }
  const result: RunResult = { outputs };
  const transfer = transferables(outputs);
  if (!transfer.length) return result;
  // Piscina's Transferable protocol: hand back the result, moving (not copying) output buffers.
  return Piscina.move({
    [Piscina.transferableSymbol]: transfer,
    [Piscina.valueSymbol]: result,
  } as never) as unknown as RunResult;
}
