// Request limits that every decoder shares (the /predict and v2 JSON paths, and any binary
// tensor path): JSON nesting depth, checked on the text before parsing; tensor element counts
// and row counts, checked from the shape before anything is allocated. Each limit answers 400
// naming the field, the value and the flag.
import { badRequest } from '../errors.js';

/** The most dimensions a tensor shape may have (ONNX Runtime's own kernels stop far below). */
export const MAX_TENSOR_RANK = 32;

/**
 * Throws 400 when the JSON text nests deeper than `limit`. A document cannot nest deeper than
 * it has `[` and `{`, so the common body (a few brackets) is cleared by counting them with
 * indexOf; only a body with more brackets than the limit is scanned, jumping from bracket to
 * bracket and over strings. Deep nesting parses ~50× slower per byte than flat JSON and
 * overflows the stack of anything that recurses over it, so it is refused before JSON.parse.
 */
export function checkJsonDepth(text: string, limit: number): void {
  if (text.length <= limit || countOpeners(text, limit) <= limit) return;
  const depth = nestingDepthBeyond(text, limit);
  if (depth > limit) throw badRequest(`the JSON body nests deeper than ${limit} levels (--max-json-depth)`);
}

function countOpeners(text: string, limit: number): number {
  let n = 0;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > limit) return n;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > limit) return n;
  return n;
}

/** The nesting depth outside strings, or the first depth above `limit` reached. */
function nestingDepthBeyond(text: string, limit: number): number {
  const next = (char: string, from: number) => {
    const at = text.indexOf(char, from);
    return at === -1 ? Infinity : at;
  };
  let openSquare = next('[', 0), closeSquare = next(']', 0), openCurly = next('{', 0), closeCurly = next('}', 0);
  let quote = next('"', 0);
  let depth = 0;
  let deepest = 0;
  for (;;) {
    const at = Math.min(openSquare, closeSquare, openCurly, closeCurly, quote);
    if (at === Infinity) return deepest;
    if (at === quote) {
      const end = stringEnd(text, at);
      if (end === -1) return deepest; // unterminated: JSON.parse reports it
      quote = next('"', end + 1);
      if (openSquare < end) openSquare = next('[', end);
      if (closeSquare < end) closeSquare = next(']', end);
      if (openCurly < end) openCurly = next('{', end);
      if (closeCurly < end) closeCurly = next('}', end);
      continue;
    }
    if (at === openSquare || at === openCurly) {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
      if (at === openSquare) openSquare = next('[', at + 1);
      else openCurly = next('{', at + 1);
    } else {
      depth--;
      if (at === closeSquare) closeSquare = next(']', at + 1);
      else closeCurly = next('}', at + 1);
    }
  }
}

/** Index of the quote that closes the JSON string opened at `open`, or -1. */
export function stringEnd(text: string, open: number): number {
  let end = open;
  for (;;) {
    end = text.indexOf('"', end + 1);
    if (end === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 92) backslashes++;
    if ((backslashes & 1) === 0) return end;
  }
}

/**
 * Elements a shape holds, refused (400) before any allocation when a dimension is not a whole
 * number, the rank is absurd, or the product passes --max-tensor-elements (which also keeps it
 * far below Number.MAX_SAFE_INTEGER and every typed-array length limit).
 */
export function tensorElementCount(shape: readonly number[], limit: number, path: string): number {
  if (shape.length > MAX_TENSOR_RANK) throw badRequest(`${path}: a shape has at most ${MAX_TENSOR_RANK} dimensions, got ${shape.length}`);
  let count = 1;
  for (let i = 0; i < shape.length; i++) {
    const dim = shape[i]!;
    if (!Number.isSafeInteger(dim) || dim < 0) throw badRequest(`${path}/${i} must be a whole number ≥ 0, got ${dim}`);
    count *= dim;
    // Checked at every step: once above the limit the product only grows (or hits a 0 later,
    // which a client would not send for a real tensor anyway).
    if (count > limit) {
      throw badRequest(`${path}: shape [${shape.join(', ')}] holds more than ${limit} elements (--max-tensor-elements)`);
    }
  }
  return count;
}

/** Rows of one request, refused (400) above the version's row limit. */
export function checkRowCount(rows: number, limit: number, path: string): void {
  if (rows > limit) throw badRequest(`${path} holds ${rows} rows; the limit is ${limit} (--max-instances, or the version's max_queue_rows if lower)`);
}
