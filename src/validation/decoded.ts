// The one internal shape both protocols decode into: a tensor per model input in the graph's
// order, the rows they hold, and the feature matrix among them (drift watches it). Everything
// after the protocol edge sees only this.
import type { WireTensor } from '../inference/tensors.js';

/** Row-major feature values, `width` per row. */
export interface FeatureMatrix {
  data: ArrayLike<number>;
  width: number;
}

export interface DecodedInputs {
  inputs: WireTensor[];
  rows: number;
  features: FeatureMatrix | null;
  /** Flat indices (row × width + column) of feature values that were absent or null, ascending; null when none. */
  missing?: readonly number[] | null;
}

/** The model input that carries the feature matrix drift watches, and its row width. */
export interface FeatureInput {
  name: string;
  width: number;
}
