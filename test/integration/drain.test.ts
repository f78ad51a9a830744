// Shutdown drain, with the gateway in process so every step is ordered, not timed: once stop()
// begins, a request on a connection kept alive from before gets 503 and a closed connection,
// a new connection is refused, and the request admitted before the stop still gets its answer.
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';
import { holdPartialBatches, tempModels } from '../helpers/models.js';
import { connectOutcome } from '../helpers/net.js';
import { pollUntil } from '../helpers/poll.js';
import { BUNDLED_MODELS, postJson } from '../helpers/server.js';

const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'diabetes', '1', 'heldout.json'), 'utf8')) as {
  rows: number[][]; expected: { value: number }[];
};
// Batches of diabetes leave at 4 rows: a 1-row request stays queued until the test fills the batch.
const models = tempModels(BUNDLED_MODELS, ['diabetes'], { diabetes: holdPartialBatches(4) });

afterAll(() => models.cleanup());

interface AgentAnswer { status: number; headers: IncomingHttpHeaders; body: string; reusedSocket: boolean; closed: Promise<void> }

/** A GET through `agent` (so a kept-alive socket is reused); `closed` settles when its socket closes. */
function get(agent: Agent, port: number, path: string): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      const socket = req.socket!;
      const closed = new Promise<void>((resolveClosed) => (socket.destroyed ? resolveClosed() : socket.once('close', () => resolveClosed())));
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedSocket: req.reusedSocket, closed }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('stop() while a request is in flight', () => {
  it('answers 503 on a kept-alive connection and closes it, refuses new connections, and finishes the admitted request', async () => {
    const server = await startGateway(['--models', models.dir]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(agent, server.port, '/v2/health/live');
      expect(before.status).toBe(200);
      expect(before.reusedSocket).toBe(false);

      // Admitted before the stop, and still queued when it begins: the drain must wait for it.
      const admitted = postJson(`${server.url}/predict`, { model: 'diabetes', features: heldout.rows[0] });
      const { scheduler, registry } = server.gateway;
      await pollUntil('the admitted request to be queued', () => (scheduler.queuedRows('diabetes/1') === 1 ? true : undefined), 30_000, 5);

      const stopped = server.stop();
      const late = await get(agent, server.port, '/v2/health/live');
      expect(late.reusedSocket, 'the request went over the kept-alive connection').toBe(true);
      expect(late.status, late.body).toBe(503);
      expect(late.headers['retry-after']).toBe('1');
      expect(JSON.parse(late.body).error).toBe('server is shutting down; retry on another instance');
      await late.closed; // the server closed that connection after the 503
      expect(await connectOutcome(server.port), 'a new connection').toBe('ECONNREFUSED');

      // The 3 rows another client would have sent fill the batch, so the admitted request runs.
      const target = registry.get('diabetes')!.versions.get('1')!.target;
      const rest = heldout.rows.slice(1, 4);
      await scheduler.submit(target, {
        inputs: [{ name: 'input', type: 'float32', dims: [3, 10], data: Float32Array.from(rest.flat()) }],
        rows: 3, deadline: performance.now() + 30_000, timeoutMs: 30_000,
      });
      const answer = await admitted;
      expect(answer.status, answer.text).toBe(200);
      expect(answer.json.predictions[0].value).toBeCloseTo(heldout.expected[0]!.value, 3);
      await stopped;
    } finally {
      agent.destroy();
      await server.stop();
    }
  });
});
