// Request-body helpers shared by the protocol handlers.
import { badRequest } from '../errors.js';
import { checkJsonDepth } from '../validation/limits.js';
import type { Exchange } from './exchange.js';

/**
 * Parses a JSON body; a syntax error answers 400 with the parser's own description, and a body
 * nested deeper than --max-json-depth is refused before it is parsed.
 */
export async function readJsonObject(exchange: Exchange, limit: number): Promise<Record<string, unknown>> {
  const text = await exchange.readText(limit, true);
  if (text.length === 0) throw badRequest('request body is empty; send a JSON object');
  checkJsonDepth(text, exchange.maxJsonDepth);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw badRequest(`malformed JSON: ${(error as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** The request's deadline: the server default, lowered (never raised) by X-Timeout-Ms. */
export function timeoutOf(exchange: Exchange, defaultMs: number): number {
  const header = exchange.header('x-timeout-ms');
  if (header === undefined) return defaultMs;
  const value = Number(header);
  if (!Number.isFinite(value) || value <= 0) throw badRequest(`X-Timeout-Ms must be a positive number of milliseconds, got '${header}'`);
  return Math.min(value, defaultMs);
}
