// The routing fields of a /predict body (model, version, id) read from its top level without
// parsing the rows: enough to route the request and let a full queue refuse it before the body
// is parsed and decoded. The rows (`features` / `instances`) are not scanned value by value:
// once they start, a few substring searches prove no routing key can follow (no "model",
// "version", "id" and no escape anywhere after), and the fields read so far are final. So a body
// malformed inside its rows still routes (and, once admitted, answers the parser's 400).
// Anything unusual gives null and the caller parses the body, which reports what is wrong. On
// valid JSON the fields always equal JSON.parse's (test/http/predict-fields.test.ts).
import { stringEnd } from '../validation/limits.js';

export interface PredictFields {
  model: string | number | undefined;
  version: string | number | undefined;
  id: string | number | undefined;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Returns null whenever the answer is not certain; the caller then parses the whole body. */
export function skimPredictFields(text: string): PredictFields | null {
  const n = text.length;
  let i = 0;
  const space = () => {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
  };
  /** Index just past the string that opens at `from`, or -1. */
  const skipString = (from: number): number => {
    const close = stringEnd(text, from);
    return close < 0 ? -1 : close + 1;
  };
  /** Index just past a string or primitive starting at `from`, or -1 (containers are not skimmed). */
  const skipScalar = (from: number): number => {
    if (text.charCodeAt(from) === QUOTE) return skipString(from);
    let at = from;
    while (at < n) {
      const d = text.charCodeAt(at);
      if (d === COMMA || d === CLOSE_BRACE || d === OPEN_BRACE || d === OPEN_BRACKET || d === CLOSE_BRACKET || isSpace(d)) break;
      at++;
    }
    return at > from ? at : -1;
  };
  /** A routing field's value: a string without escapes or a JSON number; undefined otherwise. */
  const plainValue = (from: number, to: number): string | number | undefined => {
    if (text.charCodeAt(from) === QUOTE) {
      const inner = text.slice(from + 1, to - 1);
      // Escapes and raw control characters (which JSON forbids): leave them to the parser.
      return /[\u0000-\u001f\\]/.test(inner) ? undefined : inner;
    }
    const raw = text.slice(from, to);
    return /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : undefined;
  };

  space();
  if (text.charCodeAt(i) !== OPEN_BRACE) return null;
  i++;
  const fields: PredictFields = { model: undefined, version: undefined, id: undefined };
  space();
  if (text.charCodeAt(i) === CLOSE_BRACE) {
    i++;
    space();
    return i === n ? fields : null;
  }
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return null;
    const keyEnd = skipString(i);
    if (keyEnd < 0) return null;
    const key = text.slice(i + 1, keyEnd - 1);
    i = keyEnd;
    space();
    if (text.charCodeAt(i) !== COLON) return null;
    i++;
    space();
    if (key === 'features' || key === 'instances') {
      // The rows: nothing after them can be a routing key if none of these occur there.
      const rest = i;
      const clean = text.indexOf('\\', rest) < 0 && text.indexOf('"id"', rest) < 0 &&
        text.indexOf('version', rest) < 0 && text.indexOf('model', rest) < 0;
      return clean ? fields : null;
    }
    if (key !== 'model' && key !== 'version' && key !== 'id') return null;
    const valueEnd = skipScalar(i);
    if (valueEnd < 0) return null;
    const value = plainValue(i, valueEnd);
    if (value === undefined) return null;
    fields[key] = value;
    i = valueEnd;
    space();
    const c = text.charCodeAt(i);
    i++;
    if (c === CLOSE_BRACE) {
      space();
      return i === n ? fields : null;
    }
    if (c !== COMMA) return null;
    space();
  }
}
