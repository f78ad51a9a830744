// --watch: rescans the model repository for version folders that appeared since the last scan
// and loads them (not routed until the traffic weights say so). A folder that cannot be loaded
// yet (often one still being copied) is reported once per distinct problem and retried.
import type { Logger } from 'pino';
import type { RepositoryLayout } from '../repository/layout.js';
import type { ModelRegistry } from './registry.js';

export class RepositoryWatcher {
  private readonly reported = new Set<string>();

  constructor(private readonly layout: RepositoryLayout, private readonly registry: ModelRegistry, private readonly logger: Logger) {}

  async scan(): Promise<void> {
    for (const name of await this.layout.modelNames()) {
      const { added, failed } = await this.registry.discoverVersions(name);
      if (added.length) this.logger.info({ model: name, versions: added }, 'loaded new version folders (--watch); not routed until weights say so');
      for (const failure of failed) {
        const id = `${name}/${failure.version ?? ''}: ${failure.message}`;
        if (this.reported.has(id)) continue;
        this.reported.add(id);
        this.logger.warn({ model: name, version: failure.version, err: failure.message }, 'version folder not loadable yet (--watch)');
      }
    }
  }
}
