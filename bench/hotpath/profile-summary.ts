// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per source file,
// as a share of the non-idle samples, so each stage's cost can be read off a load run.
//
//   node dist/bench/hotpath/profile-summary.js <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const [file, topArg] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file!, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const perFunction = new Map<string, number>();
const perFile = new Map<string, number>();
let busy = 0;
let idle = 0;
for (const [id, us] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  if (functionName === '(idle)') { idle += us; continue; }
  busy += us;
  const short = url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
  const fn = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
  perFunction.set(fn, (perFunction.get(fn) ?? 0) + us);
  perFile.set(short || functionName, (perFile.get(short || functionName) ?? 0) + us);
}
const top = Number(topArg ?? 40);
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * us) / busy).toFixed(1).padStart(5)} %  ${k}`);
  }
};
console.log(`busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s`);
show('self time by file', perFile);
show('self time by function', perFunction);
