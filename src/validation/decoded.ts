// The one internal shape both protocols decode into: a tensor per model input in the graph's
// order and the rows they hold. Everything after the protocol edge sees only this.
import type { WireTensor } from '../inference/tensors.js';

export interface DecodedInputs {
  inputs: WireTensor[];
  rows: number;
}

/** The model input that carries the feature matrix drift watches, and its row width. */
export interface FeatureInput {
  name: string;
  width: number;
}
