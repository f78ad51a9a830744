// Control messages between the main thread and the inference workers (loads, unloads, pings);
// batches themselves travel through shared slots (slab.ts).

export const CONTROL_CHANNEL = 'vigil:inference-control';

/** The feature input drift watches and each of its columns' reference bin edges. */
export interface FeatureBinning {
  input: string;
  edges: number[][];
}

export type ControlMessage =
  | { op: 'load'; requestId: number; key: string; path: string; binning?: FeatureBinning }
  | { op: 'unload'; requestId: number; key: string }
  | { op: 'ping'; requestId: number };

export interface ControlReply {
  op: 'ack';
  requestId: number;
  threadId: number;
  error?: string;
}
