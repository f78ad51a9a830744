// What a model's outputs mean for its task: classifiers give a label and class probabilities,
// regressors a value, raw models their named outputs. Used by /predict responses, output
// drift, and shadow agreement alike, so all three read the outputs the same way. /predict
// answers are written as JSON text directly (predictionsJson), without building the objects.
import type { ModelConfig, Task } from '../config/model-config.js';
import { isFloatType, toJsonArray, type TensorSpec, type WireTensor } from './tensors.js';

export type Prediction = Record<string, unknown>;

/** Per-row numeric columns that output drift and agreement watch: label, probability, value. */
export interface PredictionColumns {
  label?: Float64Array;
  probability?: Float64Array;
  value?: Float64Array;
}

/** Rows [start, start + rows) of each column, as views. */
export function columnRows(columns: PredictionColumns, start: number, rows: number): PredictionColumns {
  const end = start + rows;
  return {
    label: columns.label?.subarray(start, end),
    probability: columns.probability?.subarray(start, end),
    value: columns.value?.subarray(start, end),
  };
}

export class PredictionReader {
  private readonly labelName: string | undefined;
  private readonly probabilitiesName: string | undefined;
  private readonly valueName: string | undefined;
  /** config.json classes, each already as JSON text. */
  private readonly classJson: string[] | undefined;

  /** Classes the probabilities output declares ([N, C] with a fixed C), or null. */
  readonly declaredClasses: number | null;

  constructor(
    readonly task: Task,
    outputs: readonly TensorSpec[],
    private readonly config: ModelConfig | null,
  ) {
    const named = (wanted: string | undefined, ...fallbacks: string[]) =>
      wanted ?? outputs.find((o) => fallbacks.includes(o.name))?.name;
    if (task === 'binary-classification' || task === 'multiclass-classification') {
      this.labelName = named(config?.outputs?.label, 'label', 'output_label')
        ?? outputs.find((o) => o.type === 'int64' || o.type === 'string')?.name;
      this.probabilitiesName = named(config?.outputs?.probabilities, 'probabilities', 'probability', 'output_probability')
        ?? outputs.find((o) => isFloatType(o.type) && o.shape?.length === 2)?.name;
      if (!this.labelName && !this.probabilitiesName) {
        throw new Error(`no output reads as a label or class probabilities (outputs: ${outputs.map((o) => o.name).join(', ')})`);
      }
    } else if (task === 'regression') {
      this.valueName = named(config?.outputs?.value, 'value', 'variable', 'predictions')
        ?? outputs.find((o) => isFloatType(o.type))?.name;
      if (!this.valueName) throw new Error(`no floating-point output to read as the regression value`);
    }
    this.classJson = config?.classes?.map((c) => JSON.stringify(c));
    for (const name of [this.labelName, this.probabilitiesName, this.valueName]) {
      if (name && !outputs.some((o) => o.name === name)) throw new Error(`config names output '${name}', which the graph lacks`);
    }
    const classes = outputs.find((o) => o.name === this.probabilitiesName)?.shape?.[1];
    this.declaredClasses = typeof classes === 'number' && classes > 0 ? classes : null;
  }

  /** The class probabilities of every row (rows × classes, row-major), or null without them. */
  probabilities(outputs: readonly WireTensor[]): Float32Array | Float64Array | null {
    const tensor = outputNamed(outputs, this.probabilitiesName);
    return tensor && (tensor.data instanceof Float32Array || tensor.data instanceof Float64Array) ? tensor.data : null;
  }

  /** Numeric per-row columns (label as class index, probability of that label, value). */
  columns(outputs: readonly WireTensor[], rows: number): PredictionColumns {
    if (this.task === 'regression') {
      const value = outputNamed(outputs, this.valueName)!;
      const column = new Float64Array(rows);
      const stride = value.data.length / rows;
      for (let r = 0; r < rows; r++) column[r] = Number((value.data as Float32Array)[r * stride]);
      return { value: column };
    }
    if (this.task === 'raw') return {};
    const probabilities = outputNamed(outputs, this.probabilitiesName);
    const label = outputNamed(outputs, this.labelName);
    const labels = new Float64Array(rows);
    const confidence = probabilities ? new Float64Array(rows) : undefined;
    const classes = probabilities ? probabilities.data.length / rows : 0;
    for (let r = 0; r < rows; r++) {
      let index: number;
      if (label && !Array.isArray(label.data)) index = Number((label.data as BigInt64Array)[r]);
      else index = argmax(probabilities!.data as Float32Array, r * classes, classes);
      labels[r] = index;
      if (confidence) confidence[r] = (probabilities!.data as Float32Array)[r * classes + index] ?? NaN;
    }
    return { label: labels, probability: confidence };
  }

  /** The text of JSON.stringify(predictions(...)), written without building the objects. */
  json(outputs: readonly WireTensor[], rows: number, columns: PredictionColumns): string {
    if (this.task === 'raw') return JSON.stringify(this.predictions(outputs, rows, columns));
    let out = '[';
    if (this.task === 'regression') {
      const value = columns.value!;
      for (let r = 0; r < rows; r++) out += `${r ? ',' : ''}{"value":${jsonNumber(value[r]!)}}`;
      return out + ']';
    }
    const probabilities = outputNamed(outputs, this.probabilitiesName);
    const label = outputNamed(outputs, this.labelName);
    const stringLabels = label && Array.isArray(label.data) ? label.data as string[] : undefined;
    const probs = probabilities?.data as Float32Array | undefined;
    const classes = probs ? probs.length / rows : 0;
    const { label: index, probability } = columns;
    for (let r = 0; r < rows; r++) {
      const i = index![r]!;
      out += `${r ? ',' : ''}{"label":${stringLabels ? JSON.stringify(stringLabels[r]) : this.classJson?.[i] ?? i}`;
      if (probs) {
        out += `,"probability":${jsonNumber(probability![r]!)},"probabilities":[`;
        for (let k = r * classes, end = k + classes; k < end; k++) out += (k > r * classes ? ',' : '') + jsonNumber(probs[k]!);
        out += ']';
      }
      out += '}';
    }
    return out + ']';
  }

  /** One JSON-ready prediction per row, as /predict answers (pass `columns` if already read). */
  predictions(outputs: readonly WireTensor[], rows: number, columns = this.columns(outputs, rows)): Prediction[] {
    const result = new Array<Prediction>(rows);
    if (this.task === 'raw') {
      const perRow = outputs.map((o) => ({ name: o.name, values: toJsonArray(o.type, o.data), stride: o.data.length / rows }));
      for (let r = 0; r < rows; r++) {
        const prediction: Prediction = {};
        for (const o of perRow) {
          prediction[o.name] = o.stride === 1 ? o.values[r] : o.values.slice(r * o.stride, (r + 1) * o.stride);
        }
        result[r] = prediction;
      }
      return result;
    }
    if (this.task === 'regression') {
      for (let r = 0; r < rows; r++) result[r] = { value: columns.value![r] };
      return result;
    }
    const probabilities = outputNamed(outputs, this.probabilitiesName);
    const label = outputNamed(outputs, this.labelName);
    const classes = probabilities ? probabilities.data.length / rows : 0;
    const names = this.config?.classes;
    for (let r = 0; r < rows; r++) {
      const index = columns.label![r]!;
      const prediction: Prediction = {
        label: label && Array.isArray(label.data) ? label.data[r] : names?.[index] ?? index,
      };
      if (probabilities) {
        prediction.probability = columns.probability![r];
        prediction.probabilities = Array.from((probabilities.data as Float32Array).subarray(r * classes, (r + 1) * classes));
      }
      result[r] = prediction;
    }
    return result;
  }
}

/**
 * The output tensor called `name` (none when `name` is unset). By name, not position: a
 * batch's outputs are listed as the session returned them. A loop, not find(), to make no
 * closure per call.
 */
function outputNamed(outputs: readonly WireTensor[], name: string | undefined): WireTensor | undefined {
  if (name) for (const output of outputs) if (output.name === name) return output;
  return undefined;
}

/** A number as JSON writes it (non-finite numbers become null). */
function jsonNumber(x: number): string {
  return x - x === 0 ? '' + x : 'null';
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i]! > values[offset + best]!) best = i;
  return best;
}
