// Reads a graph's inputs and outputs (names, element types, shapes) without serving it: the
// main thread opens a throwaway session, copies the metadata and releases it.
import * as ort from 'onnxruntime-node';
import { isOrtType, type Dim, type TensorSpec } from '../inference/tensors.js';

export interface GraphSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export async function readGraphSignature(path: string): Promise<GraphSignature> {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return {
      inputs: session.inputMetadata.map((m) => toSpec(m, 'input')),
      outputs: session.outputMetadata.map((m) => toSpec(m, 'output')),
    };
  } finally {
    await session.release();
  }
}

function toSpec(meta: ort.InferenceSession.ValueMetadata, role: string): TensorSpec {
  if (!meta.isTensor) throw new Error(`${role} '${meta.name}' is not a tensor (sequences and maps are not served)`);
  if (!isOrtType(meta.type)) throw new Error(`${role} '${meta.name}' has unsupported element type ${meta.type}`);
  const shape: Dim[] = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null));
  return { name: meta.name, type: meta.type, shape: meta.shape.length ? shape : null };
}

/** Requests can be stacked when every input and output has a free leading dimension. */
export function isBatchable(signature: GraphSignature): boolean {
  const free = (spec: TensorSpec) => spec.shape !== null && spec.shape.length > 0 && spec.shape[0] === null;
  return signature.inputs.every(free) && signature.outputs.every(free);
}
