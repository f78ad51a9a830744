// Who may call what: the data-plane API keys (VIGIL_API_KEYS, compared in constant time), the
// Host allow-list that stops a DNS-rebinding page from reading a loopback-bound server, and the
// access class each route declares. Probes and scrapes are never in the way of either unless
// --metrics-auth says so.
import { createHash, timingSafeEqual } from 'node:crypto';
import { forbiddenHost, unauthorized } from '../errors.js';
import type { Exchange } from './exchange.js';

/**
 * - `data`: the API (inference, feedback, metadata, /stats): an API key when keys are set.
 * - `probe`: health probes and the Prometheus scrape: open, and never Host-checked; an API key
 *   with --metrics-auth.
 * - `page`: static pages (the dashboard shell, which asks /stats with the key itself).
 * - `admin`: the admin API, which checks its own token.
 */
export type AccessClass = 'data' | 'probe' | 'page' | 'admin';

export interface AccessOptions {
  apiKeys: readonly string[];
  metricsAuth: boolean;
  /** Host names accepted (lower case, no port), or null for any. */
  allowedHosts: readonly string[] | null;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The credential of `Authorization: Bearer <credential>`, or null. */
export function bearer(header: string | undefined): string | null {
  const match = header ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  return match ? match[1]! : null;
}

/** Whether `presented` equals one of `keys`: every key is compared, in constant time each. */
export function matchesAnyKey(presented: string, keys: readonly Buffer[]): boolean {
  const hashed = digest(presented);
  let matched = false;
  // Hashing both sides makes every comparison the same length; no early exit on a match.
  for (const key of keys) matched = timingSafeEqual(hashed, key) || matched;
  return matched;
}

export function hashKeys(keys: readonly string[]): Buffer[] {
  return keys.map(digest);
}

/** The Host header's name without the port, lower case (`[::1]:8080` → `[::1]`). */
function hostName(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.indexOf(':');
  const name = colon === -1 ? lower : lower.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

export class AccessPolicy {
  private readonly keys: Buffer[];
  private readonly hosts: Set<string> | null;

  constructor(private readonly options: AccessOptions) {
    this.keys = hashKeys(options.apiKeys);
    this.hosts = options.allowedHosts ? new Set(options.allowedHosts) : null;
  }

  /** Throws the 403 or 401 the request gets, before its handler runs. */
  check(exchange: Exchange, access: AccessClass): void {
    if (access === 'probe') {
      if (this.options.metricsAuth) this.checkKey(exchange);
      return;
    }
    if (this.hosts && !this.hosts.has(hostName(exchange.host))) throw forbiddenHost(exchange.host);
    if (access === 'data') this.checkKey(exchange);
  }

  private checkKey(exchange: Exchange): void {
    if (this.keys.length === 0) return;
    const presented = bearer(exchange.header('authorization'));
    if (presented === null || !matchesAnyKey(presented, this.keys)) throw unauthorized('API key (Authorization: Bearer <key>, see VIGIL_API_KEYS)');
  }
}
