// One error type for every failure that ends with a clear answer: the HTTP status it maps to,
// a stable machine-readable type (the `error_type` metric label), and the field to blame when
// there is one. Config, reference, traffic and guardrail validation, the repository and the
// request path all throw it, so no caller ever matches on message text.
export class VigilError extends Error {
  readonly status: number;
  readonly type: string;
  /** JSON-pointer-like path of the offending field (`weights/3`, `features/mean_radius`). */
  readonly field: string | undefined;
  /** Why a request's value was refused, as a metric label: missing, type, minimum, maximum, … */
  readonly reason: string | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, type: string, message: string, options: { field?: string; reason?: string; headers?: Record<string, string> } = {}) {
    // These are answers, not bugs: no stack trace. Capturing one costs more than the rest of a
    // rejected request (a full queue under overload rejects thousands a second).
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.status = status;
    this.type = type;
    this.field = options.field;
    this.reason = options.reason;
    this.headers = options.headers ?? {};
  }
}

export const badRequest = (message: string, field?: string) => new VigilError(400, 'bad_request', message, { field });
/** A request value refused for `reason` (request_rejections_total counts it by field and reason). */
export const rejected = (message: string, field: string, reason: string) => new VigilError(400, 'bad_request', message, { field, reason });
/** A field that fails validation; the message starts with the field. */
export const invalidField = (field: string, reason: string) =>
  new VigilError(400, 'invalid', `${field}: ${reason}`, { field });
/** A config.json or reference.json that cannot be served; the message names the file and the field. */
export const invalidFile = (file: string, reason: string, field?: string) =>
  new VigilError(400, 'invalid_file', `${file}: ${reason}`, { field });
export const notFound = (message: string) => new VigilError(404, 'not_found', message);
export const methodNotAllowed = (message: string, allow: string) =>
  new VigilError(405, 'method_not_allowed', message, { headers: { Allow: allow } });
export const conflict = (message: string) => new VigilError(409, 'conflict', message);
export const payloadTooLarge = (limit: number) =>
  new VigilError(413, 'payload_too_large', `request body is larger than the limit of ${limit} bytes`);
export const unsupportedMediaType = (got: string, expected = 'send application/json') =>
  new VigilError(415, 'unsupported_media_type', `unsupported content type '${got}': ${expected}`);
export const unauthorized = (what = 'bearer token') =>
  new VigilError(401, 'unauthorized', `missing or wrong ${what}`, { headers: { 'WWW-Authenticate': 'Bearer' } });
export const forbiddenHost = (host: string) =>
  new VigilError(403, 'forbidden_host', `Host '${host}' is not one this server answers to (see --allowed-hosts)`);
export const bodyTimeout = (ms: number) =>
  new VigilError(408, 'body_timeout', `the request body did not arrive within ${ms} ms`);
/** Too many bytes of request bodies are being received at once (--receive-budget). */
export const receiveBudgetFull = (budget: number) =>
  new VigilError(503, 'receive_budget', `the server is receiving ${budget} bytes of request bodies already; retry later`, { headers: { 'Retry-After': '1' } });
export const queueFull = (key: string, limit: number) =>
  new VigilError(503, 'queue_full', `queue for ${key} is full (${limit} rows); retry later`, { headers: { 'Retry-After': '1' } });
export const overloaded = (waitedMs: number) =>
  new VigilError(503, 'overloaded', `the server is overloaded (requests waited over ${waitedMs} ms); retry later`, { headers: { 'Retry-After': '1' } });
export const notReady = (what: string) =>
  new VigilError(503, 'not_ready', `${what} is not ready`, { headers: { 'Retry-After': '1' } });
export const deadlineExceeded = (key: string, timeoutMs: number) =>
  new VigilError(504, 'deadline_exceeded', `deadline of ${timeoutMs} ms passed before ${key} could run the request`);
export const inferenceFailed = (key: string, cause: string) =>
  new VigilError(500, 'inference_failed', `inference failed on ${key}: ${cause}`);
