// A worker thread that dies (mid-batch, or while idle) costs only the requests of its batch:
// they are answered 500 with the request id, piscina replaces the thread, the replacement
// loads every served version, and later requests succeed. The deaths are injected through a
// test-only variable the worker reads once (VIGIL_TEST_WORKER_FAULT).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_MODELS, postJson, startServer, type RunningServer } from '../helpers/server.js';

const EXIT = 777;
const THROW = 778;
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({
    args: ['--models', FIXTURE_MODELS, '--workers', '1', '--max-queue-delay-us', '20000'],
    env: { VIGIL_TEST_WORKER_FAULT: `exit:${EXIT},throw:${THROW}` },
  });
});

afterAll(async () => {
  await server?.kill();
});

const infer = (first: number, model = 'identity-float32') =>
  postJson(`${server.url}/v2/models/${model}/infer`, {
    inputs: [{ name: 'x', shape: [1, 3], datatype: model === 'identity-float64' ? 'FP64' : 'FP32', data: [first, 2, 3] }],
  });

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('worker faults', () => {
  it('a worker exiting mid-batch: its requests get 500 with the request id, batch-mates are rerun, later requests succeed', async () => {
    const exits = () => server.logs().filter((l) => String(l.msg).startsWith('inference worker exited')).length;
    // Requests sharing the 20 ms batching window with the one that kills the worker.
    const answers = await Promise.all([infer(1), infer(EXIT), infer(2), infer(3)]);
    const [a, poisoned, b, c] = answers;
    expect(poisoned!.status, poisoned!.text).toBe(500);
    expect(poisoned!.json.request_id).toBe(poisoned!.headers.get('x-request-id'));
    expect(poisoned!.json.error).toMatch(/exited/);
    for (const ok of [a, b, c]) expect(ok!.status, ok!.text).toBe(200);
    await until(() => exits() >= 1, 'the worker exit was not logged');
    // The replacement serves every model, not only the one that was running.
    for (const model of ['identity-float32', 'identity-float64', 'multi-io']) {
      const answer = model === 'multi-io'
        ? await postJson(`${server.url}/v2/models/multi-io/infer`, { inputs: [
          { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }, { name: 'b', shape: [1, 2], datatype: 'INT64', data: [3, 4] }] })
        : await infer(5, model);
      expect(answer.status, `${model}: ${answer.text}`).toBe(200);
    }
  });

  it('a worker failing while idle (outside any task) does not take the process down', async () => {
    const errors = () => server.logs().filter((l) => l.msg === 'inference worker error' || String(l.msg).startsWith('inference worker exited')).length;
    const before = errors();
    const answer = await infer(THROW);
    expect(answer.status, answer.text).toBe(200);
    await until(() => errors() > before, 'the idle worker failure was not logged');
    expect(server.child.exitCode).toBeNull();
    const after = await infer(6);
    expect(after.status, after.text).toBe(200);
  });
});
