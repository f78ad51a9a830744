// Messages between the main thread and the inference workers.
import type { WireTensor } from './tensors.js';

export const CONTROL_CHANNEL = 'vigil:inference-control';

export interface RunTask {
  /** Model version key, e.g. "breast-cancer/2". */
  key: string;
  /** Path of model.onnx, so a worker that has not loaded the version yet can. */
  path: string;
  inputs: WireTensor[];
  outputNames?: string[];
}

export interface RunResult {
  outputs: WireTensor[];
}

export type ControlMessage =
  | { op: 'load'; requestId: number; key: string; path: string }
  | { op: 'unload'; requestId: number; key: string }
  | { op: 'ping'; requestId: number }
  /** To one (new) worker: the versions every worker holds, to load before it takes work. */
  | { op: 'sync'; requestId: number; threadId: number; versions: [key: string, path: string][] };

export type ControlReply =
  | { op: 'ack'; requestId: number; threadId: number; error?: string }
  /** A worker that just started (a replacement for one that died, too) asks what to load. */
  | { op: 'hello'; threadId: number };
