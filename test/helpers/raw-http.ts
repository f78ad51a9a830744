// Raw HTTP/1.1 over a TCP socket, for what fetch cannot send: pipelined requests, conflicting
// headers, malformed framing, bodies that trickle in. Collects every response the server writes
// (parsed by Content-Length) and how the connection ended.
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: any;
}

export interface RawResult {
  responses: RawResponse[];
  /** The server closed the connection (FIN or reset) before `waitMs` ran out. */
  closed: boolean;
  /** A reset (ECONNRESET / EPIPE) rather than an orderly close. */
  reset: boolean;
  /** Milliseconds from the first write until the close (or until giving up). */
  elapsedMs: number;
}

export interface RawOptions {
  /** Pieces written in order, with `gapMs` between them. */
  pieces: (string | Buffer)[];
  gapMs?: number;
  /** Stop once this many responses arrived (the connection may stay open). */
  expectResponses?: number;
  /** Give up after this long. */
  waitMs?: number;
  /** Called after each piece is written (e.g. to signal the server mid-body). */
  afterPiece?: (index: number) => void;
}

export function rawHttp(port: number, options: RawOptions): Promise<RawResult> {
  const { pieces, gapMs = 0, expectResponses = Infinity, waitMs = 15_000 } = options;
  return new Promise((resolve) => {
    const started = Date.now();
    let buffer = Buffer.alloc(0);
    const responses: RawResponse[] = [];
    let reset = false;
    let finished = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (closed: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closed, reset, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = parseResponse(buffer);
        if (!parsed) break;
        responses.push(parsed.response);
        buffer = buffer.subarray(parsed.length);
      }
      // An interim 100 Continue is not the answer.
      if (responses.filter((r) => r.status !== 100).length >= expectResponses) finish(false);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') reset = true;
    });
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      for (let i = 0; i < pieces.length; i++) {
        if (finished || socket.destroyed) return;
        if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (finished || socket.destroyed) return;
        socket.write(pieces[i]!);
        options.afterPiece?.(i);
      }
    });
  });
}

function parseResponse(buffer: Buffer): { response: RawResponse; length: number } | null {
  const end = buffer.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const head = buffer.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(head[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (status === 100) return { response: { status, headers, body: '', json: undefined }, length: end + 4 };
  const length = Number(headers['content-length'] ?? 0);
  if (buffer.length < end + 4 + length) return null;
  const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
  let json: any;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { response: { status, headers, body, json }, length: end + 4 + length };
}

/**
 * A kept-alive connection that answers in order. Its writes reach the server's socket at once
 * (loopback, written synchronously), so requests written on many such connections in one go are
 * all waiting when the server's event loop next polls: one turn handles them all.
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private readonly arrived: (RawResponse & { at: number })[] = [];
  private readonly waiting: { resolve: (response: RawResponse & { at: number }) => void; reject: (error: Error) => void }[] = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    // A response awaited on a connection the server closed fails at once instead of hanging.
    socket.on('close', () => {
      this.closed = true;
      for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('the server closed the connection before answering'));
    });
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (let parsed = parseResponse(this.buffer); parsed; parsed = parseResponse(this.buffer)) {
        this.buffer = this.buffer.subarray(parsed.length);
        const response = { ...parsed.response, at: performance.now() };
        const waiter = this.waiting.shift();
        if (waiter) waiter.resolve(response);
        else this.arrived.push(response);
      }
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next response, stamped with performance.now() at its arrival. */
  response(): Promise<RawResponse & { at: number }> {
    const ready = this.arrived.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closed) return Promise.reject(new Error('the server closed the connection before answering'));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A request head (and body) as raw text; `headers` in order, duplicates allowed. */
export function rawRequest(method: string, path: string, headers: [string, string][], body = ''): string {
  return `${method} ${path} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${body}`;
}

/** VmRSS of a process in bytes (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)![1]);
  return kb * 1024;
}
