// Route table over uWS: each pattern lists its methods and its access class; any other method
// answers 405 with Allow, any unknown path 404. Before a handler runs, the request's headers,
// Host and credentials are checked; handlers get an Exchange and the decoded URL parameters.
// Every callback uWS makes into Vigil passes through a guard: whatever is thrown or rejected
// becomes a JSON answer (a bug: 500 with the request id, logged once), never a dead process.
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { badRequest, methodNotAllowed, notFound } from '../errors.js';
import type { AccessClass, AccessPolicy } from './access.js';
import { enteringCallbackOf } from './cork.js';
import { Exchange, type ExchangeContext } from './exchange.js';
import type { BodyIntake } from './intake.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
export type Handler = (exchange: Exchange, params: string[]) => void | Promise<void>;

export interface RouteContext {
  countHttp(route: string, status: number): void;
  logError(error: unknown, requestId: string): void;
  intake: BodyIntake;
  maxBodyBytes: number;
  maxJsonDepth: number;
  access: AccessPolicy;
}

/** Request headers handlers may read after the synchronous part of the uWS callback. */
const WANTED_HEADERS = ['x-routing-key', 'x-timeout-ms', 'authorization', 'inference-header-content-length'];

interface Route {
  pattern: string;
  methods: Partial<Record<Method, Handler>>;
  access: AccessClass;
}

export class Router {
  /** Requests admitted and not yet answered (or abandoned); shutdown waits for zero. */
  inflight = 0;
  /** Set once shutdown starts: new requests are turned away with 503. */
  draining = false;
  private readonly routes: Route[] = [];
  private readonly exchangeContext: ExchangeContext;

  constructor(private readonly context: RouteContext) {
    this.exchangeContext = {
      onFinish: (route, status) => {
        this.inflight--;
        this.context.countHttp(route, status);
      },
      intake: context.intake,
      maxBodyBytes: context.maxBodyBytes,
      maxJsonDepth: context.maxJsonDepth,
      logError: context.logError,
    };
  }

  route(pattern: string, methods: Partial<Record<Method, Handler>>, access: AccessClass = 'data'): this {
    this.routes.push({ pattern, methods, access });
    return this;
  }

  /** Registers the routes `include` accepts (all by default) on a uWS app, and the 404 fallback. */
  mount(app: TemplatedApp, include: (access: AccessClass) => boolean = () => true): void {
    for (const { pattern, methods, access } of this.routes) {
      if (!include(access)) continue;
      const paramCount = (pattern.match(/\/:/g) ?? []).length;
      const allow = Object.keys(methods).join(', ');
      for (const [method, handler] of Object.entries(methods) as [Method, Handler][]) {
        const register = { GET: app.get, POST: app.post, PUT: app.put, DELETE: app.del }[method].bind(app);
        register(pattern, (res, req) => this.dispatch(res, req, pattern, access, paramCount, handler));
      }
      app.any(pattern, (res, req) =>
        this.dispatch(res, req, pattern, access, 0, (exchange) => {
          throw methodNotAllowed(`${exchange.method} is not allowed on ${exchange.url} (allowed: ${allow})`, allow);
        }));
    }
    app.any('/*', (res, req) =>
      this.dispatch(res, req, 'unknown', 'page', 0, (exchange) => {
        throw notFound(`no route ${exchange.method} ${exchange.url}`);
      }));
  }

  private dispatch(res: HttpResponse, req: HttpRequest, route: string, access: AccessClass, paramCount: number, handler: Handler): void {
    enteringCallbackOf(res);
    let exchange: Exchange | undefined;
    try {
      this.inflight++;
      exchange = new Exchange(res, req, route, this.exchangeContext, WANTED_HEADERS);
      if (exchange.done) return; // answered while reading the headers (a body far over the limit)
      if (this.draining) {
        exchange.sendJson(503, { error: 'server is shutting down; retry on another instance' }, { 'Retry-After': '1' }, true);
        return;
      }
      if (exchange.headerProblem) {
        // A framing problem (conflicting lengths) leaves the connection in an unknown state: close it.
        exchange.sendJson(400, { error: exchange.headerProblem }, undefined, true);
        return;
      }
      this.context.access.check(exchange, access);
      // Parameters are read before the handler's first await: uWS invalidates req after return.
      const params: string[] = [];
      for (let i = 0; i < paramCount; i++) params.push(decodePathParameter(req.getParameter(i) ?? ''));
      const result = handler(exchange, params);
      if (result) result.catch((error: unknown) => this.answerFailure(exchange!, error));
    } catch (error) {
      if (exchange) this.answerFailure(exchange, error);
      else this.answerWithoutExchange(res, error);
    }
  }

  private answerFailure(exchange: Exchange, error: unknown): void {
    try {
      exchange.sendError(error, this.context.logError);
    } catch (writeError) {
      this.context.logError(writeError, exchange.requestId);
    }
  }

  /** The exchange itself failed to start: uWS ends the process if the handler returns unanswered. */
  private answerWithoutExchange(res: HttpResponse, error: unknown): void {
    this.inflight--;
    this.context.logError(error, '(none)');
    try {
      res.cork(() => res.writeStatus('500 Internal Server Error').writeHeader('content-type', 'application/json')
        .end('{"error":"internal error; the server log has the details"}', true));
    } catch {
      // Nothing left to answer on.
    }
  }
}

/** A path segment as the client meant it; a malformed %-escape is the client's mistake (400). */
function decodePathParameter(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`malformed percent-escape in the URL path segment '${raw}'`);
  }
}
