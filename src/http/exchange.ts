// One HTTP exchange on uWS: reads what the route needs from the request while it is still
// valid (uWS invalidates `req` when the handler returns), reads the body with a size limit,
// tracks abortion, and writes the answer corked, never after the client has gone.
import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { payloadTooLarge, VigilError, unsupportedMediaType } from '../errors.js';

export const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 404: '404 Not Found',
  405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large',
  415: '415 Unsupported Media Type', 429: '429 Too Many Requests', 500: '500 Internal Server Error',
  503: '503 Service Unavailable', 504: '504 Gateway Timeout',
};

// Generated request ids: a random per-process prefix and a counter, unique like a UUID for
// correlating logs but several times cheaper to make on every request.
const ID_PREFIX = randomBytes(8).toString('hex');
let idCounter = 0;
const nextRequestId = () => `${ID_PREFIX}-${(++idCounter).toString(16)}`;

export interface ExchangeObserver {
  (route: string, status: number): void;
}

export class Exchange {
  aborted = false;
  done = false;
  readonly requestId: string;
  readonly startedAt = performance.now();
  readonly method: string;
  readonly url: string;
  private readonly contentType: string;
  private readonly contentLength: number;
  private readonly headers = new Map<string, string>();

  constructor(
    private readonly res: HttpResponse,
    req: HttpRequest,
    /** Route label for metrics (the pattern, not the raw URL, to bound cardinality). */
    readonly route: string,
    private readonly onFinish: ExchangeObserver,
    wantedHeaders: readonly string[] = [],
  ) {
    this.method = req.getMethod().toUpperCase();
    this.url = req.getUrl();
    this.requestId = req.getHeader('x-request-id') || nextRequestId();
    this.contentType = req.getHeader('content-type');
    this.contentLength = Number(req.getHeader('content-length') || -1);
    for (const name of wantedHeaders) {
      const value = req.getHeader(name);
      if (value) this.headers.set(name, value);
    }
    res.onAborted(() => {
      this.aborted = true;
      this.finish(499);
    });
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  /**
   * Reads the whole body as UTF-8 text. uWS reuses each chunk's memory once onData returns, so
   * a single-chunk body (the common case) is decoded right there, in one copy; longer bodies
   * copy their chunks and decode at the end.
   */
  readText(limit: number, requireJson: boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      if (requireJson && this.contentType && !/^application\/json\b|^application\/[\w.+-]+\+json\b|^\*\/\*$/i.test(this.contentType)) {
        reject(unsupportedMediaType(this.contentType));
        return;
      }
      if (this.contentLength > limit) {
        reject(payloadTooLarge(limit));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let overflowed = false;
      this.res.onData((chunk, isLast) => {
        if (overflowed) return;
        size += chunk.byteLength;
        if (size > limit) {
          overflowed = true;
          reject(payloadTooLarge(limit));
          return;
        }
        if (isLast && chunks.length === 0) {
          resolve(Buffer.from(chunk).toString('utf8'));
          return;
        }
        chunks.push(Buffer.from(chunk.slice(0)));
        if (isLast) resolve(Buffer.concat(chunks, size).toString('utf8'));
      });
    });
  }

  sendJson(status: number, body: unknown, headers?: Record<string, string>, closeConnection = false): void {
    this.send(status, JSON.stringify(body), 'application/json', headers, closeConnection);
  }

  sendError(error: unknown, log?: (error: unknown, requestId: string) => void): void {
    if (error instanceof VigilError) {
      const body: Record<string, unknown> = { error: error.message };
      if (error.status >= 500) body.request_id = this.requestId;
      // A body over the limit may still be streaming in: answer and close rather than read it.
      this.sendJson(error.status, body, error.headers, error.status === 413);
      if (error.status >= 500) log?.(error, this.requestId);
      return;
    }
    log?.(error, this.requestId);
    this.sendJson(500, { error: `internal error: ${(error as Error)?.message ?? String(error)}`, request_id: this.requestId });
  }

  send(status: number, body: string, contentType: string, headers?: Record<string, string>, closeConnection = false): void {
    // The client left (or was answered already): never write to a dead response.
    if (this.aborted || this.done) return;
    this.res.cork(() => {
      this.res.writeStatus(STATUS_TEXT[status] ?? String(status));
      this.res.writeHeader('content-type', contentType);
      this.res.writeHeader('x-request-id', this.requestId);
      if (headers) for (const name in headers) this.res.writeHeader(name, headers[name]!);
      this.res.end(body, closeConnection);
    });
    this.finish(status);
  }

  /** Called once per exchange: answered, or abandoned by the client (499). */
  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.onFinish(this.route, status);
  }
}
