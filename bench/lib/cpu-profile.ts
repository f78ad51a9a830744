// Reads V8 .cpuprofile files (written by `node --cpu-prof`) and charges their samples to
// request stages (bench/lib/stage-map.ts). Sample timestamps are microseconds of the monotonic
// clock process.hrtime() reads too, so a window measured in the harness selects the samples
// of exactly one load interval. "(idle)" samples (the thread waiting in its event loop) and a
// worker blocked in Atomics.wait (stage-map.ts isBlocked) are counted apart: not CPU time.
import { readFileSync } from 'node:fs';
import { frameLabel, isBlocked, ruleFor, STAGES, type Frame, type Stage, type StageRule, type Thread } from './stage-map.js';

export interface ProfileNode {
  id: number;
  callFrame: Frame & { lineNumber: number; columnNumber?: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function parseCpuProfile(text: string, source = 'profile'): CpuProfile {
  const p = JSON.parse(text) as Partial<CpuProfile>;
  if (!Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas) || typeof p.startTime !== 'number') {
    throw new Error(`${source}: not a V8 CPU profile (needs nodes, samples, timeDeltas, startTime)`);
  }
  if (p.samples.length !== p.timeDeltas.length) throw new Error(`${source}: ${p.samples.length} samples but ${p.timeDeltas.length} time deltas`);
  return p as CpuProfile;
}

export function readCpuProfile(path: string): CpuProfile {
  return parseCpuProfile(readFileSync(path, 'utf8'), path);
}

/** Inclusive window in profile time (µs of the monotonic clock); omit for the whole profile. */
export interface Window {
  fromUs: number;
  toUs: number;
}

export interface StageCount {
  stage: Stage;
  samples: number;
  /** The leaf frames (self time) behind this stage's samples, most first. */
  top: { frame: string; samples: number }[];
}

export interface Attribution {
  /** Non-idle samples in the window. */
  samples: number;
  idleSamples: number;
  stages: StageCount[];
}

/** Stage of every node: the first frame from the node up to the root that a rule matches. */
function classifyNodes(p: CpuProfile, thread: Thread, rules?: readonly StageRule[]): Map<number, Stage | 'idle'> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stage = new Map<number, Stage | 'idle'>();
  for (const n of p.nodes) {
    if (n.callFrame.functionName === '(idle)' || isBlocked(n.callFrame)) {
      stage.set(n.id, 'idle');
      continue;
    }
    let found: Stage = 'other';
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const rule = ruleFor(byId.get(id)!.callFrame, thread, rules);
      if (rule) {
        found = rule.stage;
        break;
      }
    }
    stage.set(n.id, found);
  }
  return stage;
}

export function attribute(
  profiles: CpuProfile[],
  thread: Thread,
  window?: Window,
  rules?: readonly StageRule[],
  topN = 4,
): Attribution {
  const counts = new Map<Stage, Map<string, number>>(STAGES.map((s) => [s, new Map()]));
  let samples = 0;
  let idleSamples = 0;
  for (const p of profiles) {
    const stageOf = classifyNodes(p, thread, rules);
    const label = new Map(p.nodes.map((n) => [n.id, frameLabel(n.callFrame)]));
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i]!;
      if (window && (t < window.fromUs || t > window.toUs)) continue;
      const node = p.samples[i]!;
      const stage = stageOf.get(node);
      if (stage === undefined) throw new Error(`sample ${i} points at unknown node ${node}`);
      if (stage === 'idle') {
        idleSamples++;
        continue;
      }
      samples++;
      const frames = counts.get(stage)!;
      const frame = label.get(node)!;
      frames.set(frame, (frames.get(frame) ?? 0) + 1);
    }
  }
  return {
    samples,
    idleSamples,
    stages: STAGES.map((stage) => {
      const frames = [...counts.get(stage)!].sort((a, b) => b[1] - a[1]);
      return {
        stage,
        samples: frames.reduce((n, [, c]) => n + c, 0),
        top: frames.slice(0, topN).map(([frame, c]) => ({ frame, samples: c })),
      };
    }),
  };
}
