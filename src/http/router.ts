// Route table over uWS: each pattern lists its methods; any other method answers 405 with
// Allow, any unknown path 404. Handlers get an Exchange and the URL parameters, and every
// thrown or rejected error becomes a clear JSON answer instead of a crash.
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { badRequest, methodNotAllowed, notFound } from '../errors.js';
import { Exchange } from './exchange.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
export type Handler = (exchange: Exchange, params: string[]) => void | Promise<void>;

export interface RouteContext {
  countHttp(route: string, status: number): void;
  logError(error: unknown, requestId: string): void;
}

/** Request headers handlers may read after the synchronous part of the uWS callback. */
const WANTED_HEADERS = ['x-routing-key', 'x-timeout-ms', 'authorization', 'inference-header-content-length'];

export class Router {
  /** Requests admitted and not yet answered (or abandoned); shutdown waits for zero. */
  inflight = 0;
  /** Set once shutdown starts: new requests are turned away with 503. */
  draining = false;
  private readonly routes: { pattern: string; methods: Partial<Record<Method, Handler>> }[] = [];

  constructor(private readonly context: RouteContext) {}

  route(pattern: string, methods: Partial<Record<Method, Handler>>): this {
    this.routes.push({ pattern, methods });
    return this;
  }

  mount(app: TemplatedApp): void {
    for (const { pattern, methods } of this.routes) {
      const paramCount = (pattern.match(/\/:/g) ?? []).length;
      const allow = Object.keys(methods).join(', ');
      for (const [method, handler] of Object.entries(methods) as [Method, Handler][]) {
        const register = { GET: app.get, POST: app.post, PUT: app.put, DELETE: app.del }[method].bind(app);
        register(pattern, (res, req) => this.dispatch(res, req, pattern, paramCount, handler));
      }
      app.any(pattern, (res, req) =>
        this.dispatch(res, req, pattern, 0, (exchange) => {
          throw methodNotAllowed(`${exchange.method} is not allowed on ${exchange.url} (allowed: ${allow})`, allow);
        }));
    }
    app.any('/*', (res, req) =>
      this.dispatch(res, req, 'unknown', 0, (exchange) => {
        throw notFound(`no route ${exchange.method} ${exchange.url}`);
      }));
  }

  private dispatch(res: HttpResponse, req: HttpRequest, route: string, paramCount: number, handler: Handler): void {
    this.inflight++;
    const exchange = new Exchange(res, req, route, (routeLabel, status) => {
      this.inflight--;
      this.context.countHttp(routeLabel, status);
    }, WANTED_HEADERS);
    if (this.draining) {
      exchange.sendJson(503, { error: 'server is shutting down; retry on another instance' }, { 'Retry-After': '1' }, true);
      return;
    }
    try {
      const params: string[] = [];
      for (let i = 0; i < paramCount; i++) params.push(decodePathParameter(req.getParameter(i) ?? ''));
      const result = handler(exchange, params);
      if (result) result.catch((error: unknown) => exchange.sendError(error, this.context.logError));
    } catch (error) {
      exchange.sendError(error, this.context.logError);
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
