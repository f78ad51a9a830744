// One HTTP exchange on uWS: reads what the route needs from the request while it is still
// valid (uWS invalidates `req` when the handler returns), owns the request body from the first
// byte (size limit, the global receive budget, the body deadline), tracks abortion, and writes
// the answer corked, never after the client has gone. An answer decided while the body is still
// arriving waits until a bounded amount of it has been read and discarded, so that an ordinary
// client reads the status instead of a connection reset.
import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { bodyTimeout, payloadTooLarge, receiveBudgetFull, unsupportedMediaType, VigilError } from '../errors.js';
import { bodyPool } from './body-pool.js';
import { canCorkNow, enteringCallbackOf, writeLate } from './cork.js';
import type { BodyIntake, ReceivingBody } from './intake.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found',
  405: '405 Method Not Allowed', 408: '408 Request Timeout', 409: '409 Conflict', 413: '413 Payload Too Large',
  415: '415 Unsupported Media Type', 429: '429 Too Many Requests', 431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error', 503: '503 Service Unavailable', 504: '504 Gateway Timeout',
};

// Generated request ids: a random per-process prefix and a counter, unique like a UUID for
// correlating logs but several times cheaper to make on every request.
const ID_PREFIX = randomBytes(8).toString('hex');
let idCounter = 0;
const nextRequestId = () => `${ID_PREFIX}-${(++idCounter).toString(16)}`;

/** A client's X-Request-ID is echoed in headers, bodies and logs: visible ASCII, bounded. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** Headers the exchange itself reads (the fallback path asks for each by name). */
const FRAMING_HEADERS = ['content-length', 'transfer-encoding', 'host', 'content-type', 'x-request-id'];
let canIterateHeaders = true;
const JSON_TYPE = /^(?:application\/json|application\/[\w.+-]+\+json)\s*(?:;|$)/i;

/** What every exchange of a listener shares. */
export interface ExchangeContext {
  /** Called once per exchange: answered, or abandoned by the client (499). */
  onFinish(route: string, status: number): void;
  intake: BodyIntake;
  /** --max-body: bodies are refused (413) above it, whichever handler reads them. */
  maxBodyBytes: number;
  /** --max-json-depth, for the JSON reader. */
  maxJsonDepth: number;
  /** A bug in a callback: logged once with the request id. */
  logError(error: unknown, requestId: string): void;
}

/** The answer to a request whose body is still arriving: written once the body is drained. */
interface DeferredAnswer {
  status: number;
  body: string | Uint8Array;
  contentType: string;
  headers: Record<string, string> | undefined;
  close: boolean;
}

type BodyState = 'none' | 'receiving' | 'refusing' | 'complete';

/**
 * How much of a refused body is read and dropped so that the client reads the answer: up to
 * four times --max-body (an ordinary client that sent somewhat too much); beyond that the
 * connection is closed, and such a client may see a reset instead of the status.
 */
export const drainCap = (maxBodyBytes: number) => 4 * maxBodyBytes;

/** The bytes of a request without a body (never written to). */
const NO_BYTES = Buffer.alloc(0);
/** readBytes' alignment: the widest element (8-byte integers and floats) a view may need. */
const ALIGNMENT = 8;

const CLIENT_GONE = new VigilError(499, 'client_closed', 'the client closed the connection');

export class Exchange implements ReceivingBody {
  aborted = false;
  done = false;
  readonly requestId: string;
  /** The id was generated here (hex digits and a dash: nothing to escape in JSON). */
  private readonly requestIdIsOurs: boolean;
  readonly startedAt = performance.now();
  readonly method: string;
  readonly url: string;
  /** The Host header as sent (empty when absent). */
  readonly host: string;
  /** A header the request must be refused for (400), found before any handler runs. */
  readonly headerProblem: string | null;
  readonly contentType: string;
  private readonly headers: Map<string, string> | null;

  private bodyState: BodyState;
  /** Declared Content-Length, or -1 for a chunked body. */
  private readonly declaredLength: number;
  private reservedBytes = 0;
  private receivedBytes = 0;
  private chunks: Buffer[] = [];
  private collected: Buffer | null = null;
  private bodyLimit: number;
  private text: string | null = null;
  /** The body as bytes instead of text (binary bodies: see readBytes). */
  private keepBytes = false;
  /** Where the byte readBytes aligns sits: bytes of padding before the body in its memory. */
  private bytesPad = 0;
  /** The pool's buffer holding the body read as bytes, until recycleBody. */
  private pooledBody: Buffer | null = null;
  private bytes: Buffer | null = null;
  private reader: { resolve(body: string | Buffer): void; reject(error: unknown): void } | null = null;
  private refusal: VigilError | null = null;
  private deferred: DeferredAnswer | null = null;
  /** Bytes read and thrown away after a refusal; beyond the drain cap the connection is closed. */
  private discardedBytes = 0;

  constructor(
    private readonly res: HttpResponse,
    req: HttpRequest,
    /** Route label for metrics (the pattern, not the raw URL, to bound cardinality). */
    readonly route: string,
    private readonly context: ExchangeContext,
    wantedHeaders: readonly string[],
  ) {
    this.method = req.getMethod().toUpperCase();
    this.url = req.getUrl();
    // One pass over the headers instead of a lookup per name: it costs about as much as the
    // lookups did, and it is the only way to see a header sent twice.
    let contentLength = '', transferEncoding = '', requestId = '', host = '', contentType = '';
    let headers: Map<string, string> | null = null;
    let problem: string | null = null;
    const visit = (name: string, value: string) => {
      switch (name) {
        case 'content-length':
          if (contentLength !== '' && contentLength !== value) problem = `conflicting Content-Length headers (${contentLength}, ${value})`;
          contentLength = value;
          return;
        case 'transfer-encoding':
          if (transferEncoding !== '') problem = 'Transfer-Encoding sent twice';
          transferEncoding = value;
          return;
        case 'host':
          if (host !== '') problem = 'Host sent twice';
          host = value;
          return;
        case 'content-type':
          contentType = value;
          return;
        case 'x-request-id':
          requestId = value;
          return;
        default:
          if (wantedHeaders.includes(name)) (headers ??= new Map()).set(name, value);
      }
    };
    if (canIterateHeaders) {
      try {
        req.forEach(visit);
      } catch {
        canIterateHeaders = false; // uWS's pure-JS fallback does not implement forEach
      }
    }
    if (!canIterateHeaders) {
      for (const name of [...FRAMING_HEADERS, ...wantedHeaders]) {
        const value = req.getHeader(name);
        if (value) visit(name, value);
      }
    }
    if (requestId !== '' && !REQUEST_ID.test(requestId)) {
      problem ??= 'X-Request-ID must be 1 to 128 visible ASCII characters';
      requestId = '';
    }
    if (contentLength !== '' && !/^\d{1,15}$/.test(contentLength)) problem ??= `Content-Length '${contentLength}' is not a byte count`;
    if (transferEncoding !== '' && transferEncoding.trim().toLowerCase() !== 'chunked') {
      problem ??= `Transfer-Encoding '${transferEncoding}' is not supported (send chunked, or a Content-Length)`;
    }
    this.requestId = requestId || nextRequestId();
    this.requestIdIsOurs = requestId === '';
    this.host = host;
    this.contentType = contentType;
    this.headers = headers;
    this.headerProblem = problem;
    // uWS itself closes the connection on a Content-Length that is not a number.
    this.declaredLength = contentLength !== '' ? Number(contentLength) : transferEncoding !== '' ? -1 : 0;
    this.bodyLimit = context.maxBodyBytes;
    res.onAborted(() => this.guard(() => this.clientGone()));
    if (this.declaredLength === 0) {
      this.bodyState = 'none';
      return;
    }
    this.bodyState = 'receiving';
    context.intake.track(this);
    // Attached before anything is answered: uWS keeps calling it for the rest of the body.
    res.onData((chunk, isLast) => this.guard(() => this.onChunk(chunk, isLast)));
    if (this.declaredLength > context.maxBodyBytes) this.refuse(payloadTooLarge(context.maxBodyBytes));
    else if (this.declaredLength > 0) this.claim(this.declaredLength);
  }

  /** The request id as a JSON string. */
  get requestIdJson(): string {
    return this.requestIdIsOurs ? `"${this.requestId}"` : JSON.stringify(this.requestId);
  }

  get maxJsonDepth(): number {
    return this.context.maxJsonDepth;
  }

  header(name: string): string | undefined {
    return this.headers?.get(name);
  }

  /**
   * The whole body as UTF-8 text (empty when there is none), refused with 413 above `limit`
   * and with 415 unless it is JSON when `requireJson` (a cross-site form cannot send JSON, so
   * a missing content type is refused too).
   */
  readText(limit: number, requireJson: boolean): Promise<string> {
    if (requireJson && !JSON_TYPE.test(this.contentType)) {
      return Promise.reject(unsupportedMediaType(this.contentType || '(none)'));
    }
    return this.awaitBody(limit, '', this.text);
  }

  /**
   * The whole body as bytes (a binary body is not UTF-8 text), refused with 413 above `limit`;
   * the content type is the caller's to check. Byte `alignAt` of the body lands on an 8-byte
   * boundary of its memory, so typed arrays over the data after a header of that length can
   * be views instead of copies. Must be called before the body has arrived, i.e. in the
   * synchronous part of the handler, as protocol handlers read their body anyway.
   */
  readBytes(limit: number, alignAt = 0): Promise<Buffer> {
    if (this.text !== null) return Promise.reject(new Error('readBytes: the body was already read as text'));
    this.keepBytes = true;
    this.bytesPad = (ALIGNMENT - (alignAt % ALIGNMENT)) % ALIGNMENT;
    return this.awaitBody(limit, NO_BYTES, this.bytes);
  }

  /**
   * The body once it has all arrived (`whole`, when it already has; `empty` without a body),
   * refused with 413 above `limit`, or with the refusal already decided.
   */
  private awaitBody<T extends string | Buffer>(limit: number, empty: T, whole: T | null): Promise<T> {
    if (this.refusal) return Promise.reject(this.refusal);
    if (this.bodyState === 'none') return Promise.resolve(empty);
    if (limit < this.bodyLimit) {
      this.bodyLimit = limit;
      if (this.declaredLength > limit || this.receivedBytes > limit) {
        this.refuse(payloadTooLarge(limit));
        return Promise.reject(this.refusal);
      }
    }
    if (whole !== null) return Promise.resolve(whole);
    return new Promise((resolve, reject) => {
      this.reader = { resolve: resolve as (body: string | Buffer) => void, reject };
    });
  }

  /** The body will not be read: drop it as it arrives (the answer may come later). */
  discardBody(): void {
    if (this.bodyState === 'receiving') this.startDiscarding();
  }

  sendJson(status: number, body: unknown, headers?: Record<string, string>, closeConnection = false): void {
    this.send(status, JSON.stringify(body), 'application/json', headers, closeConnection);
  }

  /** Answers a failure: a VigilError as itself, anything else as a 500 with the request id (logged once). */
  sendError(error: unknown, log?: (error: unknown, requestId: string) => void): void {
    if (error instanceof VigilError) {
      this.sendJson(error.status, this.errorBody(error), error.headers);
      // A failure of the server is logged; full queues and passed deadlines are answers to load,
      // counted in the metrics (a log line each would cost most under overload).
      if (error.status === 500) log?.(error, this.requestId);
      return;
    }
    log?.(error, this.requestId);
    // A bug's message may name server internals: the log has it, the client gets the id.
    this.sendJson(500, { error: 'internal error; the server log has the details under this request id', request_id: this.requestId });
  }

  send(status: number, body: string | Uint8Array, contentType: string, headers?: Record<string, string>, closeConnection = false): void {
    // The client left (or was answered already): never write to a dead response.
    if (this.aborted || this.done || this.deferred) return;
    if (this.bodyState === 'receiving' || this.bodyState === 'refusing') {
      // Answering now would leave the body unread, and closing on unread data resets the
      // connection before the client reads the status: read (and drop) the rest first.
      this.deferred = { status, body, contentType, headers, close: closeConnection };
      if (this.bodyState === 'receiving') this.startDiscarding();
      return;
    }
    this.write({ status, body, contentType, headers, close: closeConnection });
  }

  /** Called by the intake when the body deadline passes with the body still arriving. */
  bodyTimedOut(): void {
    if (this.aborted || this.done) return;
    if (this.bodyState === 'receiving') {
      const error = bodyTimeout(this.context.intake.timeoutMs);
      this.finishBody();
      this.reader?.reject(error);
      this.reader = null;
      // The handler is waiting on the body: answer it here, whatever it would have done.
      this.writeError(error, true);
      return;
    }
    if (this.bodyState === 'refusing') {
      this.finishBody();
      this.flushDeferred(true);
    }
  }

  private onChunk(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.aborted || this.bodyState === 'complete') return;
    if (this.bodyState === 'refusing') {
      this.discardedBytes += chunk.byteLength;
      if (isLast || this.discardedBytes > drainCap(this.context.maxBodyBytes)) {
        this.finishBody();
        this.flushDeferred(!isLast);
      }
      return;
    }
    this.receivedBytes += chunk.byteLength;
    if (this.receivedBytes > this.bodyLimit) {
      this.refuse(payloadTooLarge(this.bodyLimit));
      if (isLast) {
        this.finishBody();
        this.flushDeferred(false);
      }
      return;
    }
    // A chunked body claims the budget as it grows.
    if (this.declaredLength < 0 && !this.claim(chunk.byteLength)) {
      if (isLast) {
        this.finishBody();
        this.flushDeferred(false);
      }
      return;
    }
    if (isLast && this.chunks.length === 0 && this.collected === null) {
      // One piece (the common case): decode straight from uWS's buffer, one copy.
      if (this.keepBytes) {
        const body = this.bodyMemory(chunk.byteLength);
        body.set(new Uint8Array(chunk));
        this.complete(body);
      } else {
        this.complete(Buffer.from(chunk).toString('utf8'));
      }
      return;
    }
    // uWS reuses the chunk's memory once onData returns: copy it. With a declared length the
    // body goes into one buffer of that size (one allocation, returned whole afterwards).
    if (this.declaredLength > 0) {
      this.collected ??= this.bodyMemory(this.declaredLength);
      this.collected.set(new Uint8Array(chunk), this.receivedBytes - chunk.byteLength);
    } else {
      this.chunks.push(Buffer.from(chunk.slice(0)));
    }
    if (!isLast) return;
    const whole = this.collected ? this.collected.subarray(0, this.receivedBytes) : this.joinChunks();
    this.complete(this.keepBytes ? whole : whole.toString('utf8'));
  }

  /**
   * Memory for `length` body bytes, after readBytes' padding: for bytes, from the body pool
   * (given back by recycleBody); for text, fresh (the text is decoded from it at once).
   */
  private bodyMemory(length: number): Buffer {
    if (!this.keepBytes) return Buffer.allocUnsafeSlow(length);
    this.pooledBody = bodyPool.take(this.bytesPad + length);
    return this.pooledBody.subarray(this.bytesPad, this.bytesPad + length);
  }

  /**
   * The body read by readBytes is no longer needed: nothing reads it, nor any view over it
   * (decoded tensors included), from now on. Its memory goes back to the pool for another
   * request.
   */
  recycleBody(): void {
    if (!this.pooledBody) return;
    bodyPool.give(this.pooledBody);
    this.pooledBody = null;
    this.bytes = null;
  }

  private joinChunks(): Buffer {
    if (!this.keepBytes) return Buffer.concat(this.chunks, this.receivedBytes);
    const whole = this.bodyMemory(this.receivedBytes);
    let at = 0;
    for (const chunk of this.chunks) {
      whole.set(chunk, at);
      at += chunk.length;
    }
    return whole;
  }

  private complete(body: string | Buffer): void {
    this.finishBody();
    if (typeof body === 'string') this.text = body;
    else this.bytes = body;
    this.reader?.resolve(body);
    this.reader = null;
  }

  /** Claims budget for body bytes; refuses the body (503) when they do not fit. */
  private claim(bytes: number): boolean {
    if (this.context.intake.reserve(bytes)) {
      this.reservedBytes += bytes;
      return true;
    }
    this.refuse(receiveBudgetFull(this.context.intake.budgetBytes));
    return false;
  }

  /** The body will not be used: answer `error` once the rest of it is drained (bounded). */
  private refuse(error: VigilError): void {
    this.refusal = error;
    this.reader?.reject(error);
    this.reader = null;
    this.startDiscarding();
    if (this.deferred) return;
    // A declared body too large to drain is answered at once, closing the connection.
    const remaining = this.declaredLength - this.receivedBytes;
    this.deferredError(error, false);
    if (this.declaredLength > 0 && remaining > drainCap(this.context.maxBodyBytes)) {
      this.finishBody();
      this.flushDeferred(true);
    }
  }

  private deferredError(error: VigilError, close: boolean): void {
    this.deferred = { status: error.status, body: JSON.stringify(this.errorBody(error)), contentType: 'application/json', headers: error.headers, close };
  }

  /** A server's failure carries the request id, under which the log has the details. */
  private errorBody(error: VigilError): Record<string, unknown> {
    return error.status >= 500 ? { error: error.message, request_id: this.requestId } : { error: error.message };
  }

  private startDiscarding(): void {
    this.bodyState = 'refusing';
    this.releaseBody();
  }

  private releaseBody(): void {
    this.chunks = [];
    this.collected = null;
    if (this.reservedBytes) this.context.intake.release(this.reservedBytes);
    this.reservedBytes = 0;
  }

  private finishBody(): void {
    this.releaseBody();
    this.bodyState = 'complete';
    this.context.intake.untrack(this);
  }

  private flushDeferred(close: boolean): void {
    const answer = this.deferred;
    if (!answer) return;
    this.deferred = null;
    this.write({ ...answer, close: answer.close || close });
  }

  private writeError(error: VigilError, close: boolean): void {
    this.deferredError(error, close);
    this.flushDeferred(close);
  }

  private write(answer: DeferredAnswer): void {
    if (this.aborted || this.done) return;
    if (canCorkNow(this.res)) {
      this.writeNow(answer);
    } else {
      // No guard runs around a late write: a failure is logged here instead.
      writeLate(() => {
        try {
          this.writeNow(answer);
        } catch (error) {
          this.context.logError(error, this.requestId);
        }
      });
    }
    this.finish(answer.status);
  }

  private writeNow({ status, body, contentType, headers, close }: DeferredAnswer): void {
    if (this.aborted) return; // the client left while the answer waited for its cork (cork.ts)
    this.res.cork(() => {
      // uWS answers 200 OK unless told otherwise: one native call fewer on the common path.
      if (status !== 200) this.res.writeStatus(STATUS_TEXT[status] ?? String(status));
      this.res.writeHeader('content-type', contentType);
      this.res.writeHeader('x-request-id', this.requestId);
      if (headers) for (const name in headers) this.res.writeHeader(name, headers[name]!);
      this.res.end(body, close);
    });
  }

  private clientGone(): void {
    this.aborted = true;
    if (this.bodyState === 'receiving' || this.bodyState === 'refusing') this.finishBody();
    this.reader?.reject(CLIENT_GONE);
    this.reader = null;
    this.finish(499);
  }

  /** Called once per exchange: answered, or abandoned by the client (499). */
  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.context.onFinish(this.route, status);
  }

  /**
   * The last resort around every callback uWS makes into this exchange: whatever a bug throws
   * there is logged once and answered 500 if the client still waits, and never escapes into
   * uWS (where an exception ends the process).
   */
  private guard(callback: () => void): void {
    enteringCallbackOf(this.res);
    try {
      callback();
    } catch (error) {
      this.context.logError(error, this.requestId);
      try {
        if (!this.aborted && !this.done) {
          this.deferred = null;
          this.finishBody();
          this.sendError(error, undefined);
        }
      } catch {
        // Writing the 500 failed too (the response is gone): nothing more to do.
      }
    }
  }
}
