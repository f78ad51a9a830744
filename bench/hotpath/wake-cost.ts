// What waking a sleeping thread costs the thread that wakes it, on this machine: the main
// thread bumps a shared counter and calls Atomics.notify on it, as Rings.submit does, while a
// worker thread blocks in Atomics.wait on that counter; the time spent inside notify is
// measured, after the worker has slept for each of several gaps. On a VM whose idle vCPUs halt
// at once (guest haltpoll off), the wake is an inter-processor interrupt that exits to the
// hypervisor in the waker's time: that is what makes every hand-off to a sleeping worker cost
// the main thread, and why a worker lingers for one client's next batch (src/inference/linger.ts).
//
//   node dist/bench/hotpath/wake-cost.js [--wakes 3000] [--gaps 0,50,200,1000]
import { isMainThread, Worker, workerData } from 'node:worker_threads';

const COUNTER = 0;
const ACKS = 1;
const STOP = 2;

function options() {
  const argv = process.argv.slice(2);
  const opts = { wakes: 3000, gapsUs: [0, 50, 200, 1000] };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1] ?? '';
    if (argv[i] === '--wakes') opts.wakes = Number(value);
    else if (argv[i] === '--gaps') opts.gapsUs = value.split(',').map(Number);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return opts;
}

/** The worker: sleeps on the counter, acknowledges every change, until told to stop. */
function sleeper(cells: Int32Array): void {
  let seen = Atomics.load(cells, COUNTER);
  while (Atomics.load(cells, STOP) === 0) {
    Atomics.wait(cells, COUNTER, seen, 10);
    const now = Atomics.load(cells, COUNTER);
    if (now !== seen) {
      seen = now;
      Atomics.add(cells, ACKS, 1);
    }
  }
}

function spin(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}

async function main(): Promise<void> {
  const opts = options();
  const cells = new Int32Array(new SharedArrayBuffer(16));
  const worker = new Worker(new URL(import.meta.url), { workerData: cells.buffer });
  spin(200_000); // the worker starts and falls asleep
  console.log('| worker asleep for (µs) | notify, µs (mean) | notify, µs (median) | woke a waiter |');
  console.log('|---:|---:|---:|---:|');
  for (const gap of opts.gapsUs) {
    const costs: number[] = [];
    let woke = 0;
    for (let i = 0; i < opts.wakes; i++) {
      spin(gap);
      const acks = Atomics.load(cells, ACKS);
      Atomics.add(cells, COUNTER, 1);
      const started = process.hrtime.bigint();
      woke += Atomics.notify(cells, COUNTER);
      costs.push(Number(process.hrtime.bigint() - started) / 1000);
      while (Atomics.load(cells, ACKS) === acks); // until the worker has taken it
    }
    costs.sort((a, b) => a - b);
    const mean = costs.reduce((sum, c) => sum + c, 0) / costs.length;
    console.log(`| ${gap} | ${mean.toFixed(2)} | ${costs[costs.length >> 1]!.toFixed(2)} | ${((100 * woke) / opts.wakes).toFixed(0)} % |`);
  }
  Atomics.store(cells, STOP, 1);
  Atomics.add(cells, COUNTER, 1);
  Atomics.notify(cells, COUNTER);
  await worker.terminate();
}

if (isMainThread) await main();
else sleeper(new Int32Array(workerData as SharedArrayBuffer));
