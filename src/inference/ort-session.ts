// One ONNX Runtime session as the worker uses it: opened from a model file, run on the calling
// thread. onnxruntime-node's public `InferenceSession.run` defers every run by a setImmediate
// (an event-loop turn of the worker per batch: measured ≈ 3–8 µs here, more on a worker that
// had slept) and then calls its native session synchronously anyway. A worker has nothing else
// to do meanwhile, so it calls the native session itself. That session is an internal of
// onnxruntime-node (dist/binding.js, the object its own backend wraps), so it is used only when
// it looks exactly as expected; otherwise the public API serves, as before.
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';

export type SessionOptions = ort.InferenceSession.SessionOptions;
export type Feeds = Record<string, ort.Tensor>;
export type Results = Record<string, ort.Tensor>;

export interface OrtSession {
  /** True when runs call the native session directly (no event-loop turn per run). */
  readonly direct: boolean;
  /** The outputs of one run: synchronous on the direct path, a promise otherwise. */
  run(feeds: Feeds): Results | Promise<Results>;
  release(): Promise<void>;
}

interface NativeSession {
  loadModel(path: string, options: SessionOptions): void;
  run(feeds: Feeds, fetches: Record<string, null>, options: object): Results;
  dispose(): void;
  outputMetadata: { name: string }[];
}

interface Binding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

/** The native binding when it has the shape this file relies on, else null. */
function nativeBinding(): Binding | null {
  try {
    const candidate = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as Partial<Binding>;
    const Session = candidate.binding?.InferenceSession;
    if (typeof candidate.initOrt !== 'function' || typeof Session !== 'function') return null;
    const proto = Session.prototype as Partial<Record<string, unknown>>;
    return ['loadModel', 'run', 'dispose'].every((name) => typeof proto[name] === 'function') ? (candidate as Binding) : null;
  } catch {
    return null;
  }
}

const NATIVE = process.env.VIGIL_ORT_PUBLIC_RUN === '1' ? null : nativeBinding();

class DirectSession implements OrtSession {
  readonly direct = true;
  private readonly fetches: Record<string, null>;

  constructor(private readonly native: NativeSession) {
    this.fetches = Object.fromEntries(native.outputMetadata.map((output) => [output.name, null]));
  }

  run(feeds: Feeds): Results {
    return this.native.run(feeds, this.fetches, {});
  }

  async release(): Promise<void> {
    this.native.dispose();
  }
}

class PublicSession implements OrtSession {
  readonly direct = false;

  constructor(private readonly session: ort.InferenceSession) {}

  run(feeds: Feeds): Promise<Results> {
    return this.session.run(feeds) as Promise<Results>;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Opens a model file; rejects with ORT's message when it cannot be loaded. */
export async function openSession(path: string, options: SessionOptions): Promise<OrtSession> {
  if (!NATIVE) return new PublicSession(await ort.InferenceSession.create(path, options));
  NATIVE.initOrt();
  const native = new NATIVE.binding.InferenceSession();
  native.loadModel(path, options);
  return new DirectSession(native);
}
