// Failures that end a request with a clear answer. Each carries the HTTP status it maps to,
// so the edge can answer without knowing which layer raised it.
export class RequestError extends Error {
  readonly status: number;
  /** Short machine-readable cause, used as the `error_type` metric label. */
  readonly type: string;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, type: string, headers: Record<string, string> = {}) {
    // These are answers, not bugs: no stack trace. Capturing one costs more than the rest of a
    // rejected request (a full queue under overload rejects thousands a second).
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.status = status;
    this.type = type;
    this.headers = headers;
  }
}

export const badRequest = (message: string) => new RequestError(400, message, 'bad_request');
export const notFound = (message: string) => new RequestError(404, message, 'not_found');
export const methodNotAllowed = (message: string, allow: string) =>
  new RequestError(405, message, 'method_not_allowed', { Allow: allow });
export const payloadTooLarge = (limit: number) =>
  new RequestError(413, `request body is larger than the limit of ${limit} bytes`, 'payload_too_large');
export const unsupportedMediaType = (got: string) =>
  new RequestError(415, `unsupported content type '${got}': send application/json`, 'unsupported_media_type');
export const queueFull = (key: string, limit: number) =>
  new RequestError(503, `queue for ${key} is full (${limit} rows); retry later`, 'queue_full', { 'Retry-After': '1' });
export const deadlineExceeded = (key: string, timeoutMs: number) =>
  new RequestError(504, `deadline of ${timeoutMs} ms passed before ${key} could run the request`, 'deadline_exceeded');
export const notReady = (what: string) =>
  new RequestError(503, `${what} is not ready`, 'not_ready', { 'Retry-After': '1' });
export const inferenceFailed = (key: string, cause: string) =>
  new RequestError(500, `inference failed on ${key}: ${cause}`, 'inference_failed');
export const unauthorized = () => new RequestError(401, 'missing or wrong bearer token', 'unauthorized');
export const conflict = (message: string) => new RequestError(409, message, 'conflict');
