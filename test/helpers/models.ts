// A throwaway model repository for a test (or a bench run): copies of models, optionally with
// an edited config.json, in a temp directory the caller removes afterwards.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ConfigEdit = (config: any) => any;

/**
 * Copies the given models of `source` into a fresh temp directory, passing each config.json
 * through `edit` (the edit gets `{}` for a model without one, and may change it in place or
 * return a new object; models without an edit are copied untouched). Returns the dir and a cleanup.
 */
export function tempModels(source: string, models: string[], edit: Record<string, ConfigEdit> = {}, prefix = 'vigil-models-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const model of models) {
    cpSync(join(source, model), join(dir, model), { recursive: true });
    const change = edit[model];
    if (change) {
      const file = join(dir, model, 'config.json');
      const config = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
      writeFileSync(file, `${JSON.stringify(change(config) ?? config, null, 2)}\n`);
    }
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A config edit that holds a partial batch for a minute (max_queue_delay_us) until
 * `maxBatchSize` rows are queued: a request with fewer rows waits, deterministically, until the
 * test fills the batch or the request's deadline passes.
 */
export function holdPartialBatches(maxBatchSize: number, maxQueueRows = maxBatchSize): ConfigEdit {
  return (config) => ({ ...config, batching: { max_batch_size: maxBatchSize, max_queue_delay_us: 60_000_000, max_queue_rows: maxQueueRows } });
}
