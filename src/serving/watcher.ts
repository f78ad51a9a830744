// --watch: rescans the model repository for version folders (and model folders) that appeared
// since the last scan and loads them (not routed until the traffic weights say so). A folder is
// loaded only once it is complete: it holds a READY file, or its files have not changed for
// --watch-settle-ms (seen unchanged by two scans), so a model.onnx copied before its
// reference.json is not loaded without drift monitoring. A version the admin API unloaded is
// not loaded back. A folder that cannot be loaded is reported once per distinct problem and
// retried.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RepositoryLayout } from '../repository/layout.js';
import type { ModelRegistry } from './registry.js';

/** A file an operator creates in a version folder to say "complete, load it now". */
export const READY_MARKER = 'READY';

export class RepositoryWatcher {
  private readonly reported = new Set<string>();
  /** Each pending folder's file listing (names, sizes, mtimes) at the previous scan. */
  private readonly fingerprints = new Map<string, string>();
  private scanning = false;

  constructor(
    private readonly layout: RepositoryLayout,
    private readonly registry: ModelRegistry,
    private readonly logger: Logger,
    private readonly settleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** One scan at a time: a slow load must not start the same load twice. */
  async scan(): Promise<void> {
    if (this.scanning) return;
    this.scanning = true;
    try {
      await this.scanOnce();
    } finally {
      this.scanning = false;
    }
  }

  private async scanOnce(): Promise<void> {
    for (const name of await this.layout.modelNames()) {
      const { added, failed } = await this.registry.discoverVersions(name, (dir) => this.isComplete(dir));
      if (added.length) this.logger.info({ model: name, versions: added }, 'loaded new version folders (--watch); not routed until weights say so');
      for (const failure of failed) {
        const id = `${name}/${failure.version ?? ''}: ${failure.message}`;
        if (this.reported.has(id)) continue;
        this.reported.add(id);
        this.logger.warn({ model: name, version: failure.version, err: failure.message }, 'version folder not loadable yet (--watch)');
      }
    }
  }

  /** READY present, or every file unchanged since the last scan and for at least settleMs. */
  private async isComplete(dir: string): Promise<boolean> {
    const files = await listFiles(dir);
    if (files.some((f) => f.relative === READY_MARKER)) {
      this.fingerprints.delete(dir);
      return true;
    }
    const fingerprint = files.map((f) => `${f.relative}:${f.size}:${f.mtimeMs}`).sort().join('|');
    const previous = this.fingerprints.get(dir);
    this.fingerprints.set(dir, fingerprint);
    const newest = Math.max(0, ...files.map((f) => f.mtimeMs));
    const settled = previous === fingerprint && this.now() - newest >= this.settleMs;
    if (settled) this.fingerprints.delete(dir);
    return settled;
  }
}

/** Files under `dir` (two levels: a model folder's config.json and its version folders' files). */
async function listFiles(dir: string, depth = 2, prefix = ''): Promise<{ relative: string; size: number; mtimeMs: number }[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: { relative: string; size: number; mtimeMs: number }[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth > 1) files.push(...await listFiles(path, depth - 1, `${prefix}${entry.name}/`));
      continue;
    }
    const info = await stat(path).catch(() => null);
    if (info) files.push({ relative: `${prefix}${entry.name}`, size: info.size, mtimeMs: info.mtimeMs });
  }
  return files;
}
