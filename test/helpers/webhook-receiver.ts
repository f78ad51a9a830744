// A real HTTP webhook receiver on 127.0.0.1 for alert tests: records every POST (parsed JSON
// body, arrival time) and answers with the status `answer(n)` gives for the n-th request
// (0-based), or holds requests until released.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  body: any;
  at: number;
  status: number;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedRequest[];
  /** Held responses are answered 200 from now on, and the waiting ones released. */
  release(): void;
  /** Resolves once `predicate` holds for the received requests (polled), or rejects after timeoutMs. */
  waitFor(predicate: (received: ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(answer: (n: number) => number | 'hold' = () => 200): Promise<WebhookReceiver> {
  const received: ReceivedRequest[] = [];
  const held: ServerResponse[] = [];
  let holding = true;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const decision = answer(received.length);
      const status = decision === 'hold' ? 200 : decision;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = Buffer.concat(chunks).toString('utf8');
      }
      received.push({ path: req.url ?? '', body, at: Date.now(), status });
      if (decision === 'hold' && holding) {
        held.push(res);
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    release() {
      holding = false;
      for (const res of held.splice(0)) res.writeHead(200).end('ok');
    },
    async waitFor(predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline) throw new Error(`webhook receiver: condition not met after ${timeoutMs} ms (${received.length} requests)`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close() {
      holding = false;
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
