// The live set of served models: what the repository scan found, turned into served versions,
// and the load/unload life cycle that keeps every worker in step before traffic is routed.
// Each version's state moves loading → ready → draining → (gone), or loading → unavailable.
import type { Logger } from 'pino';
import { notFound, VigilError } from '../errors.js';
import type { BatchScheduler } from '../inference/batcher.js';
import type { InferencePool } from '../inference/pool.js';
import type { Clock } from '../monitoring/clock.js';
import type { DriftOptions } from '../monitoring/drift.js';
import type { Metrics } from '../monitoring/metrics.js';
import { VersionMonitor } from '../monitoring/version-monitor.js';
import { defaultPolicy, TrafficState, validateTrafficPolicy, type TrafficPolicy } from '../routing/traffic.js';
import type { RepositoryLayout } from '../repository/layout.js';
import { hideRepositoryPaths, loadVersionArtifact, scanModel, type ModelArtifact, type VersionArtifact } from '../repository/repository.js';
import { monitorSettings } from './monitor-settings.js';
import { ServedModel } from './served-model.js';
import { ServedVersion, type ServingDefaults } from './served-version.js';

export { ServedModel, ServedVersion, type ServingDefaults };
export type { VersionState, VersionStatus } from './served-model.js';

export class ModelRegistry {
  readonly models = new Map<string, ServedModel>();

  constructor(
    private readonly layout: RepositoryLayout,
    private readonly pool: InferencePool,
    private readonly scheduler: BatchScheduler,
    private readonly metrics: Metrics,
    private readonly defaults: ServingDefaults,
    private readonly driftDefaults: DriftOptions,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  get(name: string): ServedModel | undefined {
    return this.models.get(name);
  }

  /** The model called `name`, or a 404 that lists the served models. */
  require(name: string): ServedModel {
    const model = this.models.get(name);
    if (!model) throw notFound(`unknown model '${name}' (models: ${[...this.models.keys()].join(', ')})`);
    return model;
  }

  /** Builds the serving state for one scanned model and loads its versions into every worker. */
  async addModel(artifact: ModelArtifact): Promise<ServedModel> {
    let model: ServedModel;
    try {
      model = new ServedModel(artifact.name, artifact.dir, artifact.config, artifact.error, this.clock);
    } catch (error) {
      // guardrails in config.json that do not validate: the whole model is unservable.
      model = new ServedModel(artifact.name, artifact.dir, null, (error as Error).message, this.clock);
    }
    this.models.set(artifact.name, model);
    if (model.modelError !== null) return model;
    for (const failure of artifact.failures) model.markUnavailable(failure.version, failure.message);
    for (const version of artifact.versions) {
      await this.loadArtifact(model, version).catch(() => undefined); // the version is marked unavailable
    }
    if (model.versions.size) model.traffic = new TrafficState(this.initialPolicy(model));
    return model;
  }

  /** Loads a version folder at runtime (admin API, --watch); not routed until weights say so. */
  async loadVersion(model: ServedModel, version: string): Promise<ServedVersion> {
    model.unloadedOnPurpose.delete(version);
    const existing = model.versions.get(version);
    if (existing && existing.state === 'ready') return existing;
    let artifact: VersionArtifact;
    try {
      artifact = await loadVersionArtifact(this.layout, model.name, version);
    } catch (error) {
      // A folder that is not there is not a version: nothing to remember (a client naming
      // random versions must not grow the status table or turn 404s into 503s).
      if (!(error instanceof VigilError && error.status === 404)) model.markUnavailable(version, (error as Error).message);
      throw error;
    }
    const served = await this.loadArtifact(model, artifact);
    model.traffic ??= new TrafficState(defaultPolicy([version]));
    return served;
  }

  /** Stops routing to a version, lets its queued and running batches finish, then frees it. */
  async unloadVersion(model: ServedModel, version: ServedVersion): Promise<void> {
    // Remembered, so that --watch does not load the folder straight back.
    model.unloadedOnPurpose.add(version.version);
    version.state = 'draining';
    await this.scheduler.drain(version.key);
    model.versions.delete(version.version);
    model.clearStatus(version.version);
    this.scheduler.forget(version.key);
    await this.pool.unloadEverywhere(version.key);
  }

  /**
   * Re-scans a model folder for version folders that are not loaded yet (--watch), loading
   * those `ready` accepts (complete on disk). A version unloaded through the admin API stays
   * unloaded until the admin API loads it again. A folder that fails to load is reported and
   * tried again next scan.
   */
  async discoverVersions(
    name: string,
    ready: (dir: string) => Promise<boolean>,
  ): Promise<{ added: string[]; failed: { version?: string; message: string }[] }> {
    const model = this.models.get(name);
    if (!model) {
      if (!(await ready(this.layout.modelDir(name)))) return { added: [], failed: [] };
      const artifact = await scanModel(this.layout, name);
      if (!artifact.versions.length) return { added: [], failed: artifact.error ? [{ message: artifact.error }] : artifact.failures };
      const added = await this.addModel(artifact);
      return { added: added.loadedVersions(), failed: added.errors };
    }
    // Only folders not loaded yet are opened: a scan every few seconds must stay cheap.
    const added: string[] = [];
    const failed: { version?: string; message: string }[] = [];
    for (const version of await this.layout.versionNames(name)) {
      if (model.versions.has(version) || model.unloadedOnPurpose.has(version)) continue;
      if (!(await ready(this.layout.versionDir(name, version)))) {
        model.markLoading(version, 'waiting for the folder to be complete (files unchanged for --watch-settle-ms, or a READY file)');
        continue;
      }
      try {
        await this.loadArtifact(model, await loadVersionArtifact(this.layout, name, version));
        added.push(version);
      } catch (error) {
        failed.push({ version, message: (error as Error).message });
      }
    }
    return { added, failed };
  }

  /** Builds the served version and loads it into every worker; on failure marks it unavailable. */
  private async loadArtifact(model: ServedModel, artifact: VersionArtifact): Promise<ServedVersion> {
    model.markLoading(artifact.version);
    try {
      const served = new ServedVersion(model, artifact, this.defaults, (reader, featureNames) => new VersionMonitor(
        model.name, artifact.version, artifact.reference,
        monitorSettings(model.config, artifact.reference, reader, featureNames, this.driftDefaults), this.metrics, this.clock));
      await this.pool.loadEverywhere(artifact.key, artifact.path, served.binning ?? undefined);
      model.versions.set(artifact.version, served);
      model.clearStatus(artifact.version);
      return served;
    } catch (error) {
      // ONNX Runtime's messages name the absolute path of model.onnx: shown relative instead.
      const message = hideRepositoryPaths(this.layout.root, (error as Error).message);
      model.markUnavailable(artifact.version, message);
      throw error instanceof VigilError ? error : new Error(message);
    }
  }

  private initialPolicy(model: ServedModel): TrafficPolicy {
    const traffic = model.config?.traffic;
    if (!traffic?.weights) return defaultPolicy(model.loadedVersions());
    try {
      return validateTrafficPolicy({ weights: traffic.weights, shadow: traffic.shadow ?? null }, model.loadedVersions());
    } catch (error) {
      this.logger.error({ model: model.name, err: (error as Error).message },
        'config.json traffic does not fit the loaded versions; the highest version takes all traffic');
      return defaultPolicy(model.loadedVersions());
    }
  }
}
