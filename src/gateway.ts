// Wires the parts together and owns the life cycle: scan and load models, start the worker
// pool and the HTTP front end, run the periodic policies on timers (alerts, guardrails, the
// feedback store's expiry, --watch), and on stop drain: refuse new connections, finish every
// admitted request, give pending alert notifications a moment, flush logs.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { DataPlane } from './serving/data-plane.js';
import { BatchScheduler } from './inference/batcher.js';
import { InferencePool } from './inference/pool.js';
import { loadUws, UwsFallbackError, type LoadedUws } from './http/uws.js';
import { Router } from './http/router.js';
import { mountPredict } from './http/predict.js';
import { mountV2 } from './http/v2.js';
import { mountOps } from './http/ops.js';
import { mountAdmin } from './http/admin.js';
import { mountFeedback } from './http/feedback.js';
import { AlertNotifier } from './monitoring/alert-notifier.js';
import { AlertWebhook } from './monitoring/alert-webhook.js';
import { systemClock } from './monitoring/clock.js';
import { DEFAULT_DRIFT_OPTIONS } from './monitoring/drift.js';
import { Metrics } from './monitoring/metrics.js';
import { PredictionLog } from './monitoring/prediction-log.js';
import { PredictionStore } from './monitoring/prediction-store.js';
import type { Options } from './options.js';
import { ModelRegistry } from './serving/registry.js';
import { repositoryLayout, singleModelLayout, type RepositoryLayout } from './repository/layout.js';
import { scanRepository } from './repository/repository.js';
import { StatsReporter } from './serving/stats.js';
import { FeedbackService } from './serving/feedback.js';
import { Policies } from './serving/policies.js';
import { RepositoryWatcher } from './serving/watcher.js';

/** How long pending alert notifications may still be delivered when the server stops. */
const ALERT_FLUSH_MS = 2000;

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export class Gateway {
  readonly metrics: Metrics;
  readonly pool: InferencePool;
  readonly scheduler: BatchScheduler;
  readonly registry: ModelRegistry;
  private readonly layout: RepositoryLayout;
  readonly plane: DataPlane;
  readonly stats: StatsReporter;
  readonly store: PredictionStore | null;
  readonly feedback: FeedbackService;
  readonly webhook: AlertWebhook;
  readonly notifier: AlertNotifier;
  private readonly policies: Policies;
  private readonly predictionLog: PredictionLog | null;
  private uws: LoadedUws['uws'] | null = null;
  private app: TemplatedApp | null = null;
  private listenSocket: us_listen_socket | null = null;
  private timers: NodeJS.Timeout[] = [];
  private router: Router | null = null;
  private stopping: Promise<void> | null = null;
  port = 0;

  constructor(readonly options: Options, readonly logger: Logger) {
    this.metrics = new Metrics();
    this.pool = new InferencePool(options.workers);
    // Batching off means the plain piscina pattern, one request per task with piscina queueing
    // them; batching on keeps only a short pipeline so that waiting rows coalesce.
    const maxInflight = options.workers * (options.batching ? options.pipelineDepth : 64);
    this.scheduler = new BatchScheduler(this.pool, maxInflight, {
      onBatch: (target, _role, rows) => {
        if (options.monitoring) this.metrics.batchSize.labels(...splitKey(target.key)).observe(rows);
      },
      onBatchFailure: (target, role, error, requests) =>
        this.logger.error({ model_version: target.key, role, requests, err: error.message }, 'inference batch failed'),
    });
    this.predictionLog = options.predictionLog ? new PredictionLog(options.predictionLog, options.predictionLogSample) : null;
    this.layout = options.modelName ? singleModelLayout(options.models, options.modelName) : repositoryLayout(options.models);
    this.registry = new ModelRegistry(this.layout, this.pool, this.scheduler, this.metrics, {
      batching: options.batching, maxBatchSize: options.maxBatchSize, maxQueueDelayUs: options.maxQueueDelayUs,
      maxQueueRows: options.maxQueueRows, maxInstances: options.maxInstances,
    }, { ...DEFAULT_DRIFT_OPTIONS }, logger, systemClock);
    this.store = options.monitoring && options.feedbackStoreRows > 0
      ? new PredictionStore({ maxRows: options.feedbackStoreRows, ttlSeconds: options.feedbackTtlSeconds })
      : null;
    this.feedback = new FeedbackService(this.store, this.metrics);
    this.webhook = new AlertWebhook(options.alertWebhooks, {}, undefined, logger);
    this.notifier = new AlertNotifier(this.webhook, options.alertWebhooks);
    this.policies = new Policies(this.registry, this.metrics, logger, this.notifier);
    this.plane = new DataPlane(this.scheduler, this.metrics, logger, options.monitoring, this.predictionLog, this.store);
    this.stats = new StatsReporter(this.registry, this.scheduler, { store: this.store, feedback: this.feedback, webhook: this.webhook, notifier: this.notifier });
    this.metrics.setSource(this.stats);
  }

  /** Loads every model, then listens. Resolves with the URL served. */
  async start(): Promise<string> {
    const { uws, native, binary, warnings } = loadUws();
    this.uws = uws;
    if (!native) {
      if (!this.options.allowUwsFallback) throw new UwsFallbackError(warnings.join(' '));
      this.logger.warn('uWebSockets.js native binary did not load: serving on the slow pure-JS fallback (--allow-uws-fallback)');
    }
    await this.pool.ready();
    for (const artifact of await scanRepository(this.layout)) {
      const model = await this.registry.addModel(artifact);
      for (const error of model.errors) {
        this.logger.error({ model: model.name, version: error.version, err: error.message }, 'model not ready');
      }
    }
    this.app = uws.App();
    const router = new Router({
      countHttp: (route, status) => {
        this.metrics.countHttp(route, status);
      },
      logError: (error, requestId) => this.logger.error({ request_id: requestId, err: (error as Error)?.message ?? String(error) }, 'request failed'),
    });
    const common = { registry: this.registry, plane: this.plane, maxBodyBytes: this.options.maxBodyBytes, timeoutMs: this.options.timeoutMs };
    mountPredict(router, common);
    mountV2(router, { ...common, serverVersion: PACKAGE_VERSION });
    mountOps(router, { metrics: this.metrics, stats: this.stats });
    mountAdmin(router, { registry: this.registry, token: this.options.adminToken, logger: this.logger, maxBodyBytes: this.options.maxBodyBytes });
    mountFeedback(router, { registry: this.registry, feedback: this.feedback, maxBodyBytes: this.options.maxBodyBytes });
    router.mount(this.app);
    this.router = router;
    this.port = await this.listen(uws);
    this.startPeriodicChecks();
    const url = `http://${this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host}:${this.port}`;
    this.notifier.externalURL = url;
    this.logger.info({
      url,
      workers: this.options.workers,
      uws: native ? binary?.split('/').pop() : 'pure-JS fallback',
      models: Object.fromEntries([...this.registry.models.values()].map((m) => [m.name, {
        versions: m.loadedVersions(), ready: m.ready, task: m.task, traffic: m.traffic?.get() ?? null,
      }])),
    }, 'vigil listening');
    return url;
  }

  /** Stops accepting, lets admitted requests finish, then releases workers and logs. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.listenSocket) {
        this.uws!.us_listen_socket_close(this.listenSocket);
        this.listenSocket = null;
      }
      // Requests that arrive on connections kept alive from before get 503 and a closed
      // connection; everything admitted before this point is finished below.
      if (this.router) this.router.draining = true;
      for (const timer of this.timers) clearInterval(timer);
      while (this.router && this.router.inflight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await this.scheduler.drainAll();
      this.scheduler.close();
      await this.predictionLog?.close();
      await this.webhook.close(ALERT_FLUSH_MS);
      (this.app as unknown as { close?: () => void } | null)?.close?.();
      await this.pool.close();
    })();
    return this.stopping;
  }

  private listen(uws: LoadedUws['uws']): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app!.listen(this.options.host, this.options.port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${this.options.host}:${this.options.port} (in use or not permitted)`));
          return;
        }
        this.listenSocket = socket;
        resolve(uws.us_socket_local_port(socket as never));
      });
    });
  }

  private startPeriodicChecks(): void {
    const every = (ms: number, task: () => void | Promise<void>) => {
      const timer = setInterval(() => {
        Promise.resolve()
          .then(task)
          .catch((error: unknown) => this.logger.error({ err: (error as Error).message }, 'periodic check failed'));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    if (this.options.monitoring) every(2000, () => this.policies.sweepAlerts());
    every(1000, () => this.policies.enforceGuardrails());
    if (this.store) every(5000, () => this.store!.sweep());
    if (this.options.watch) {
      const watcher = new RepositoryWatcher(this.layout, this.registry, this.logger);
      every(2000, () => watcher.scan());
    }
  }
}

function splitKey(key: string): [string, string] {
  const slash = key.lastIndexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

