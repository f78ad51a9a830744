// Hot-path probe: measures request shapes against servers in interleaved rounds with wrk, and
// reports req/s, p50/p99 and the server's CPU per request (whole process and main thread)
// from /proc. CPU per request is the figure to trust on a busy machine; req/s moves with the
// neighbours, so compare sides only within one run.
//
//   node dist/bench/hotpath/probe.js --rounds 3 --duration 5 \
//     --side json-echo,bc,64 --side vigil,bc,64 --side fastify,bc,64
//
// A side is server,shape,connections. Servers: json-echo, echo, floor (the gateway floor,
// native-bench/gateway-floor.ts), fastify, vigil, vigil-nomon, vigil-nobatch, vigil-shadow,
// vigil-base (a second default Vigil); any Vigil as NAME@DIR runs the build in another checkout
// (to compare two commits); vigil+FLAG+… adds Node/V8 flags. --vigil-args "…" adds flags to
// every Vigil; --node-args "…" adds Node flags (V8/GC settings) to every Vigil. The last table
// gives each side's figures against the first side's, as the median of the per-round ratios.
import { join } from 'node:path';
import { SHADOW_ON, makeModelsVariant, removeModelsVariant } from '../lib/models-variant.js';
import { DEFAULT_MODELS, FASTIFY_PEER, GATEWAY_FLOOR, UWS_ECHO, VIGIL_MAIN } from '../lib/paths.js';
import { startServer, type RunningServer, type ServerCommand } from '../lib/spawn-server.js';
import { measure, type RunResult } from './load.js';
import { SHAPES } from './shapes.js';

function options() {
  const argv = process.argv.slice(2);
  const sides: { server: string; shape: string; connections: number }[] = [];
  let rounds = 3, duration = 5, warmup = 3, vigilArgs: string[] = [], nodeArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--side': {
        const [server, shape, connections] = value.split(',');
        if (!SHAPES[shape!]) throw new Error(`unknown shape ${shape} (shapes: ${Object.keys(SHAPES).join(', ')})`);
        sides.push({ server: server!, shape: shape!, connections: Number(connections ?? 64) });
        break;
      }
      case '--rounds': rounds = Number(value); break;
      case '--duration': duration = Number(value); break;
      case '--warmup': warmup = Number(value); break;
      case '--vigil-args': vigilArgs = value.split(' ').filter(Boolean); break;
      case '--node-args': nodeArgs = value.split(' ').filter(Boolean); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
    i++;
  }
  return { sides, rounds, duration, warmup, vigilArgs, nodeArgs };
}

const opts = options();
const temporary: string[] = [];

function command(server: string): ServerCommand {
  const node = process.execPath;
  const vigil = (flags: string[], models = DEFAULT_MODELS, main = VIGIL_MAIN, nodeArgs = opts.nodeArgs): ServerCommand => ({
    command: node,
    args: [...nodeArgs, main, '--port', '0', '--models', models, '--log-level', 'info', ...flags, ...opts.vigilArgs],
    startTimeoutMs: 60_000,
  });
  // vigil+FLAG+FLAG: Node (V8) flags for this server only, e.g. vigil+--max-semi-space-size=32
  if (server.startsWith('vigil+')) return vigil([], DEFAULT_MODELS, VIGIL_MAIN, server.split('+').slice(1));
  // NAME@DIR: that Vigil variant from the build in another checkout.
  const [name, dir] = server.split('@') as [string, string | undefined];
  const main = dir ? join(dir, 'dist', 'src', 'main.js') : VIGIL_MAIN;
  switch (name) {
    case 'json-echo': return { command: node, args: [UWS_ECHO, '--parse', 'json'] };
    case 'echo': return { command: node, args: [UWS_ECHO] };
    case 'fastify': return { command: node, args: [FASTIFY_PEER, '--models', DEFAULT_MODELS] };
    case 'floor': return { command: node, args: [GATEWAY_FLOOR, '--models', DEFAULT_MODELS], startTimeoutMs: 60_000 };
    case 'vigil': case 'vigil-base': return vigil([], DEFAULT_MODELS, main);
    case 'vigil-nomon': return vigil(['--no-monitoring'], DEFAULT_MODELS, main);
    case 'vigil-nobatch': return vigil(['--batching', 'off'], DEFAULT_MODELS, main);
    case 'vigil-shadow': {
      const models = makeModelsVariant(DEFAULT_MODELS, 'shadow', 'breast-cancer', SHADOW_ON);
      temporary.push(models);
      return vigil([], models, main);
    }
    default: throw new Error(`unknown server ${server}`);
  }
}

const start = (server: string): Promise<RunningServer> => startServer(server, command(server));

const servers = new Map<string, RunningServer>();
for (const side of opts.sides) if (!servers.has(side.server)) servers.set(side.server, await start(side.server));

const label = (s: (typeof opts.sides)[number]) => `${s.server} ${s.shape} @${s.connections}`;
const results = new Map<string, RunResult[]>();
try {
  for (const side of opts.sides) {
    const server = servers.get(side.server)!;
    await measure(server.url, server.pid, SHAPES[side.shape]!, side.connections, opts.warmup);
  }
  for (let round = 0; round < opts.rounds; round++) {
    const order = round % 2 === 0 ? opts.sides : [...opts.sides].reverse();
    for (const side of order) {
      const server = servers.get(side.server)!;
      const r = await measure(server.url, server.pid, SHAPES[side.shape]!, side.connections, opts.duration);
      (results.get(label(side)) ?? results.set(label(side), []).get(label(side))!).push(r);
      console.error(`round ${round + 1} ${label(side).padEnd(36)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(3)} p99 ${r.p99Ms.toFixed(3)} ms  cpu ${(r.cpuTotalUs / r.requests).toFixed(1)} (main ${(r.cpuMainUs / r.requests).toFixed(1)}) us/req  non2xx ${r.non2xx}`);
    }
  }
} finally {
  for (const server of servers.values()) await server.stop();
  for (const dir of temporary) removeModelsVariant(dir);
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
};
console.log(`| side | req/s (median) | p50 ms | p99 ms | CPU µs/req (main) | non-2xx |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
for (const side of opts.sides) {
  const rs = results.get(label(side))!;
  const requests = rs.reduce((a, r) => a + r.requests, 0);
  const total = rs.reduce((a, r) => a + r.cpuTotalUs, 0) / requests;
  const main = rs.reduce((a, r) => a + r.cpuMainUs, 0) / requests;
  console.log(`| ${label(side)} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.p50Ms)).toFixed(3)} | ${median(rs.map((r) => r.p99Ms)).toFixed(2)} | ${total.toFixed(1)} (${main.toFixed(1)}) | ${rs.reduce((a, r) => a + r.non2xx, 0)} |`);
}

// Ratios to the first side, round by round (the two runs of a round are seconds apart).
const base = results.get(label(opts.sides[0]!))!;
const perRequest = (r: RunResult, field: 'cpuTotalUs' | 'cpuMainUs') => r[field] / r.requests;
const range = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
console.log(`\n| side ÷ ${label(opts.sides[0]!)} | req/s | p99 | CPU/req | main CPU/req |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const side of opts.sides.slice(1)) {
  const rs = results.get(label(side))!;
  const ratio = (f: (r: RunResult) => number) => range(rs.map((r, i) => f(r) / f(base[i]!)));
  console.log(`| ${label(side)} | ${ratio((r) => r.rps)} | ${ratio((r) => r.p99Ms)} | ${ratio((r) => perRequest(r, 'cpuTotalUs'))} | ${ratio((r) => perRequest(r, 'cpuMainUs'))} |`);
}
