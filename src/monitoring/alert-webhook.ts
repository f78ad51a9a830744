/**
 * Delivers alert notifications to webhook URLs (POST, JSON) without ever slowing the caller:
 * send() only serialises and enqueues. Each URL has its own bounded queue and delivers one
 * notification at a time, in order, so a slow or dead receiver delays nobody else. A failed
 * attempt (network error, timeout, 5xx or 429) is retried with exponential backoff up to
 * maxAttempts; other 4xx answers are final. A full queue drops its oldest notification.
 * Every outcome is counted per receiver.
 */
import type { Logger } from 'pino';

export interface WebhookOptions {
  /** notifications waiting per URL before the oldest is dropped */
  queueSize: number;
  /** attempts per notification, the first included */
  maxAttempts: number;
  /** wait before the first retry; doubles per retry up to maxBackoffMs */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** per attempt */
  timeoutMs: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: Readonly<WebhookOptions> = {
  queueSize: 256,
  maxAttempts: 6,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  timeoutMs: 5000,
};

/** Timer hooks, injectable so tests can run the backoff schedule without waiting for it. */
export interface WebhookTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: WebhookTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ReceiverStats {
  /** the URL without credentials or query */
  receiver: string;
  queued: number;
  delivered: number;
  /** notifications given up on (attempts exhausted or a final 4xx) */
  failed: number;
  /** notifications dropped from a full queue, or left when the webhook closed */
  dropped: number;
  /** failed attempts, retried or not */
  failedAttempts: number;
}

interface Pending {
  body: string;
  attempts: number;
}

/** Names a URL for logs and metrics without leaking credentials or tokens in its query. */
export function receiverName(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

class Receiver {
  readonly stats: ReceiverStats;
  private readonly queue: Pending[] = [];
  private busy = false;
  private retryTimer: unknown = null;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly url: URL,
    private readonly options: WebhookOptions,
    private readonly timers: WebhookTimers,
    private readonly logger: Logger | null,
  ) {
    this.stats = { receiver: receiverName(url), queued: 0, delivered: 0, failed: 0, dropped: 0, failedAttempts: 0 };
  }

  enqueue(body: string): void {
    if (this.closed) {
      this.stats.dropped++;
      return;
    }
    if (this.queue.length >= this.options.queueSize) {
      // The head may be mid-attempt; drop the oldest one still waiting.
      this.queue.splice(this.busy ? 1 : 0, 1);
      this.stats.dropped++;
    }
    this.queue.push({ body, attempts: 0 });
    this.stats.queued = this.queue.length;
    this.pump();
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && !this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying; what is still queued is counted as dropped. */
  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const left = this.queue.length - (this.busy ? 1 : 0);
    this.stats.dropped += left;
    this.queue.splice(this.busy ? 1 : 0);
    this.stats.queued = this.queue.length;
    this.settle();
  }

  private pump(): void {
    if (this.busy || this.retryTimer !== null) return;
    const next = this.queue[0];
    if (!next || this.closed) return this.settle();
    this.busy = true;
    void this.attempt(next).then((retryable) => {
      this.busy = false;
      next.attempts++;
      if (retryable === null) {
        this.stats.delivered++;
      } else {
        this.stats.failedAttempts++;
        if (retryable && next.attempts < this.options.maxAttempts && !this.closed) {
          const delay = Math.min(this.options.initialBackoffMs * 2 ** (next.attempts - 1), this.options.maxBackoffMs);
          this.retryTimer = this.timers.setTimeout(() => {
            this.retryTimer = null;
            this.pump();
          }, delay);
          return;
        }
        this.stats.failed++;
        this.logger?.warn({ receiver: this.stats.receiver, attempts: next.attempts }, 'alert webhook: notification not delivered');
      }
      if (this.queue[0] === next) this.queue.shift();
      this.stats.queued = this.queue.length;
      this.pump();
    });
  }

  /** One POST: null when delivered, else whether the failure is worth retrying. */
  private async attempt(pending: Pending): Promise<boolean | null> {
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: pending.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined); // drain so the connection is reused
      if (response.ok) return null;
      this.logger?.debug({ receiver: this.stats.receiver, status: response.status }, 'alert webhook: receiver refused');
      return response.status >= 500 || response.status === 429;
    } catch (error) {
      this.logger?.debug({ receiver: this.stats.receiver, err: (error as Error).message }, 'alert webhook: attempt failed');
      return true;
    }
  }

  private settle(): void {
    if (this.busy || (this.queue.length > 0 && !this.closed)) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

export class AlertWebhook {
  readonly options: Readonly<WebhookOptions>;
  private readonly receivers = new Map<string, Receiver>();

  constructor(
    urls: readonly string[],
    options: Partial<WebhookOptions> = {},
    private readonly timers: WebhookTimers = realTimers,
    private readonly logger: Logger | null = null,
  ) {
    this.options = Object.freeze({ ...DEFAULT_WEBHOOK_OPTIONS, ...options });
    for (const [key, value] of Object.entries(this.options)) {
      const min = key.endsWith('BackoffMs') ? 0 : 1;
      if (!Number.isFinite(value) || value < min) throw new Error(`alert webhook: ${key} must be a number ≥ ${min}, got ${value}`);
    }
    for (const url of urls) this.receiverFor(url);
  }

  /** Parses and checks a webhook URL (http or https), with a message naming what is wrong. */
  static parseUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`alert webhook: '${raw}' is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`alert webhook: '${receiverName(url)}' must be http or https`);
    }
    return url;
  }

  /** Queues one JSON body for each URL, once each (all configured ones when `urls` is omitted); never blocks. */
  send(body: unknown, urls?: readonly string[]): void {
    const json = JSON.stringify(body);
    if (urls === undefined) for (const receiver of this.receivers.values()) receiver.enqueue(json);
    else for (const url of new Set(urls)) this.receiverFor(url).enqueue(json);
  }

  stats(): ReceiverStats[] {
    return [...this.receivers.values()].map((r) => ({ ...r.stats }));
  }

  /** Resolves once every queue is empty and nothing is in flight. */
  async idle(): Promise<void> {
    await Promise.all([...this.receivers.values()].map((r) => r.idle()));
  }

  /** Gives deliveries up to `graceMs` to finish, then stops (what remains counts as dropped). */
  async close(graceMs: number): Promise<void> {
    let timer: unknown = null;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => { timer = this.timers.setTimeout(resolve, graceMs); }),
    ]);
    if (timer !== null) this.timers.clearTimeout(timer);
    for (const receiver of this.receivers.values()) receiver.close();
  }

  private receiverFor(raw: string): Receiver {
    const url = AlertWebhook.parseUrl(raw);
    let receiver = this.receivers.get(url.href);
    if (!receiver) {
      receiver = new Receiver(url, this.options, this.timers, this.logger);
      this.receivers.set(url.href, receiver);
    }
    return receiver;
  }
}
