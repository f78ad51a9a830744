// The HTTP side of the binary tensor data extension (Triton's and KServe's): a request body is
// a JSON inference header of Inference-Header-Content-Length bytes followed by the binary
// tensor data; an answer with binary outputs is laid out the same way, as
// application/octet-stream with the header length in Inference-Header-Content-Length.
// Such a body comes with no Content-Type (Triton's Python client), application/octet-stream,
// or JSON; the custom header itself keeps browsers from sending it cross-site without a
// preflight, as a JSON content type does for plain JSON bodies.
import { badRequest, unsupportedMediaType } from '../errors.js';

export const HEADER_LENGTH = 'inference-header-content-length';

/** The media types a binary body may come with (none at all is accepted too); parameters may follow. */
const BINARY_TYPE = /^application\/(?:octet-stream|json|[\w.+-]+\+json)\s*(?:;|$)/i;

/** Refuses (415) a binary body's content type, before any of the body is read. */
export function checkBinaryContentType(contentType: string): void {
  if (contentType && !BINARY_TYPE.test(contentType)) {
    throw unsupportedMediaType(contentType, 'send application/octet-stream (or no content type) with Inference-Header-Content-Length');
  }
}

/** The header's byte length as declared (NaN when it is not a number of bytes). */
function declaredLength(headerLength: string): number {
  return /^\d+$/.test(headerLength) ? Number(headerLength) : NaN;
}

/**
 * Where the binary data starts in the body, for Exchange.readBytes to align (0 when the header
 * length is malformed: splitBinaryBody refuses it once the body is read).
 */
export function binaryDataOffset(headerLength: string): number {
  const length = declaredLength(headerLength);
  return Number.isSafeInteger(length) ? length : 0;
}

/** The body's JSON header as text and the binary data after it. */
export function splitBinaryBody(body: Buffer, headerLength: string): { header: string; binary: Buffer } {
  const length = declaredLength(headerLength);
  if (!(length <= body.length)) {
    throw badRequest(`Inference-Header-Content-Length must be the byte length of the JSON header, at most the ${body.length}-byte body; got '${headerLength}'`);
  }
  return { header: body.toString('utf8', 0, length), binary: body.subarray(length) };
}

/** An answer whose outputs carry binary data: the JSON header, then each output's bytes in order. */
export function binaryAnswer(header: unknown, tensors: readonly Uint8Array[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...tensors]), headerLength: json.length };
}
