// What the numbers were measured on (every figure is a ratio within one run on this box).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { REPO_ROOT } from './paths.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  os: string;
  commit: string | null;
  /** 1, 5 and 15 minute load averages when the run started: how busy the shared machine was. */
  loadAverage: number[];
}

export function describeMachine(): Machine {
  let commit: string | null = null;
  try {
    // Read-only: which commit the tree is at.
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    commit = git('rev-parse', '--short', 'HEAD');
    if (git('status', '--porcelain', '--untracked-files=no')) commit += ' (with uncommitted changes)';
  } catch {
    commit = null;
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    commit,
    loadAverage: os.loadavg(),
  };
}
