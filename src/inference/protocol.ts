// Control messages between the main thread and the inference workers (loads, unloads, pings,
// and what a new worker must load); batches themselves travel through shared slots (slab.ts).

export const CONTROL_CHANNEL = 'vigil:inference-control';

/** The feature input drift watches and each of its columns' reference bin edges. */
export interface FeatureBinning {
  input: string;
  edges: number[][];
}

/** A version every worker holds: its key, model path and drift binning. */
export interface HeldVersion {
  key: string;
  path: string;
  binning?: FeatureBinning;
}

export type ControlMessage =
  | ({ op: 'load'; requestId: number } & HeldVersion)
  | { op: 'unload'; requestId: number; key: string }
  | { op: 'ping'; requestId: number }
  /** To one (new) worker: the versions every worker holds, to load before it takes work. */
  | { op: 'sync'; requestId: number; threadId: number; versions: HeldVersion[] };

export type ControlReply =
  | { op: 'ack'; requestId: number; threadId: number; error?: string }
  /** A worker that just started (a replacement for one that died, too) asks what to load. */
  | { op: 'hello'; threadId: number };
