// Wires the parts together and owns the life cycle: scan and load models, start the worker
// pool and the HTTP front end (the admin API on its own listener when asked), run the periodic
// policies on timers (alerts, guardrails, the feedback store's expiry, --watch), and on stop
// drain: refuse new connections, finish every admitted request, give pending alert
// notifications a moment, flush logs. Every port is taken exclusively: a second Vigil on a
// port in use refuses to start instead of silently sharing it.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { DataPlane } from './serving/data-plane.js';
import { BatchScheduler, FULL_BATCH_SLOTS, type BatchTarget } from './inference/batcher.js';
import { InferencePool } from './inference/pool.js';
import { loadUws, UwsFallbackError, type LoadedUws } from './http/uws.js';
import { Router } from './http/router.js';
import { MainThreadShedder } from './http/shedding.js';
import { AccessPolicy } from './http/access.js';
import { BodyIntake } from './http/intake.js';
import { mountPredict } from './http/predict.js';
import { mountV2 } from './http/v2.js';
import { mountOps } from './http/ops.js';
import { mountAdmin } from './http/admin.js';
import { mountFeedback } from './http/feedback.js';
import { AlertNotifier } from './monitoring/alert-notifier.js';
import { AlertWebhook } from './monitoring/alert-webhook.js';
import { coarseClock, type Clock } from './monitoring/clock.js';
import { DEFAULT_DRIFT_OPTIONS } from './monitoring/drift.js';
import type { HistogramSeries } from './monitoring/fast-metrics.js';
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

/** Time as the gateway sees it; tests pass a manual clock and timer to move time without waiting. */
export interface GatewayTime {
  /** Wall-clock milliseconds for the monitoring windows (drift slices, latency, guardrails). */
  clock: Clock;
  /** Runs `task` every `ms` milliseconds (the periodic checks); the returned function stops it. */
  every(ms: number, task: () => Promise<void>): () => void;
}

const REAL_TIME: GatewayTime = {
  clock: coarseClock,
  every: (ms, task) => {
    const timer = setInterval(() => void task(), ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

export class Gateway {
  readonly metrics: Metrics;
  readonly pool: InferencePool;
  readonly scheduler: BatchScheduler;
  readonly registry: ModelRegistry;
  private readonly layout: RepositoryLayout;
  readonly plane: DataPlane;
  readonly stats: StatsReporter;
  private readonly store: PredictionStore | null;
  private readonly feedback: FeedbackService;
  private readonly webhook: AlertWebhook;
  private readonly notifier: AlertNotifier;
  private readonly policies: Policies;
  private readonly predictionLog: PredictionLog | null;
  private uws: LoadedUws['uws'] | null = null;
  private apps: TemplatedApp[] = [];
  private listenSockets: us_listen_socket[] = [];
  private intake: BodyIntake | null = null;
  private readonly time: GatewayTime;
  private readonly stopTimers: (() => void)[] = [];
  private router: Router | null = null;
  private stopping: Promise<void> | null = null;
  port = 0;
  /** The admin listener's port, when the admin API has its own (--admin-port). */
  adminPort: number | null = null;

  constructor(readonly options: Options, readonly logger: Logger, time: Partial<GatewayTime> = {}) {
    this.time = { ...REAL_TIME, ...time };
    this.metrics = new Metrics();
    // Batching off means one request per task with the pool queueing them; batching on keeps
    // only a short pipeline so that waiting rows coalesce (full batches may use a few more slots).
    const maxInflight = options.workers * (options.batching ? options.pipelineDepth : 64);
    this.pool = new InferencePool(options.workers, {
      slotsPerWorker: options.pipelineDepth * FULL_BATCH_SLOTS,
      onWorkerExit: (threadId) => logger.error({ thread: threadId }, 'inference worker exited; its batch failed and a replacement is starting'),
      onWorkerError: (error) => logger.error({ err: (error as Error)?.message ?? String(error) }, 'inference worker error'),
    });
    const batchSizes = new WeakMap<BatchTarget, HistogramSeries>();
    this.scheduler = new BatchScheduler(this.pool, maxInflight, {
      onBatch: (target, _role, rows) => {
        if (!options.monitoring) return;
        let series = batchSizes.get(target);
        if (!series) {
          series = this.metrics.batchSize.labels(...splitKey(target.key));
          batchSizes.set(target, series);
        }
        series.observe(rows);
      },
      onBatchFailure: (target, role, error, requests) =>
        this.logger.error({ model_version: target.key, role, requests, err: error.message }, 'inference batch failed'),
    });
    this.predictionLog = options.predictionLog
      ? new PredictionLog(options.predictionLog, options.predictionLogSample,
        { maxBytes: options.predictionLogMaxBytes, keep: options.predictionLogKeep }, Math.random,
        (message, error) => logger.error({ file: options.predictionLog, err: (error as Error)?.message ?? String(error) }, message))
      : null;
    this.layout = options.modelName ? singleModelLayout(options.models, options.modelName) : repositoryLayout(options.models);
    this.registry = new ModelRegistry(this.layout, this.pool, this.scheduler, this.metrics, {
      batching: options.batching, maxBatchSize: options.maxBatchSize, maxQueueDelayUs: options.maxQueueDelayUs,
      maxQueueRows: options.maxQueueRows, maxInstances: options.maxInstances, monitoring: options.monitoring,
      maxTensorElements: options.maxTensorElements,
    }, { ...DEFAULT_DRIFT_OPTIONS }, logger, this.time.clock);
    this.store = options.monitoring && options.feedbackStoreRows > 0
      ? new PredictionStore({ maxRows: options.feedbackStoreRows, ttlSeconds: options.feedbackTtlSeconds }, this.time.clock)
      : null;
    this.feedback = new FeedbackService(this.store, this.metrics);
    this.webhook = new AlertWebhook(options.alertWebhooks, {}, undefined, logger);
    this.notifier = new AlertNotifier(this.webhook, options.alertWebhooks, this.time.clock);
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
    const logError = (error: unknown, requestId: string) =>
      this.logger.error({ request_id: requestId, err: (error as Error)?.stack ?? String(error) }, 'request failed');
    this.intake = new BodyIntake(this.options.receiveBudgetBytes, this.options.bodyTimeoutMs, (error) => logError(error, '(body deadline)'));
    this.intake.start();
    const router = new Router({
      countHttp: (route, status) => {
        this.metrics.countHttp(route, status);
      },
      logError,
      intake: this.intake,
      maxBodyBytes: this.options.maxBodyBytes,
      maxJsonDepth: this.options.maxJsonDepth,
      access: new AccessPolicy({ apiKeys: this.options.apiKeys, metricsAuth: this.options.metricsAuth, allowedHosts: this.options.allowedHosts }),
    });
    const shedder = new MainThreadShedder(this.options.shedAfterMs, this.options.shedHoldMs);
    const common = { registry: this.registry, plane: this.plane, shedder, maxBodyBytes: this.options.maxBodyBytes, timeoutMs: this.options.timeoutMs };
    mountPredict(router, common);
    mountV2(router, { ...common, serverVersion: PACKAGE_VERSION });
    mountOps(router, { metrics: this.metrics, stats: this.stats });
    mountAdmin(router, { registry: this.registry, token: this.options.adminToken, logger: this.logger, maxBodyBytes: this.options.maxBodyBytes });
    mountFeedback(router, { registry: this.registry, feedback: this.feedback, maxBodyBytes: this.options.maxBodyBytes });
    this.router = router;
    const main = uws.App();
    this.apps.push(main);
    const separateAdmin = this.options.adminPort !== null;
    router.mount(main, (access) => !separateAdmin || access !== 'admin');
    this.port = await this.listen(uws, main, this.options.host, this.options.port);
    let adminUrl: string | undefined;
    if (separateAdmin) {
      const admin = uws.App();
      this.apps.push(admin);
      router.mount(admin, (access) => access === 'admin');
      this.adminPort = await this.listen(uws, admin, this.options.adminHost!, this.options.adminPort!);
      adminUrl = urlOf(this.options.adminHost!, this.adminPort);
    }
    this.startPeriodicChecks();
    const url = urlOf(this.options.host, this.port);
    this.notifier.externalURL = url;
    this.logger.info({
      url,
      ...(adminUrl ? { admin_url: adminUrl } : {}),
      api_keys: this.options.apiKeys.length,
      allowed_hosts: this.options.allowedHosts ?? '*',
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
      for (const socket of this.listenSockets) this.uws!.us_listen_socket_close(socket);
      this.listenSockets = [];
      // Requests that arrive on connections kept alive from before get 503 and a closed
      // connection; everything admitted before this point is finished below.
      if (this.router) this.router.draining = true;
      for (const stopTimer of this.stopTimers) stopTimer();
      // Admitted requests include bodies still arriving: the body deadline bounds this wait.
      while (this.router && this.router.inflight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      this.intake?.stop();
      await this.scheduler.drainAll();
      this.scheduler.close();
      await this.predictionLog?.close();
      await this.webhook.close(ALERT_FLUSH_MS);
      for (const app of this.apps) (app as unknown as { close?: () => void }).close?.();
      await this.pool.close();
    })();
    return this.stopping;
  }

  /** Listens exclusively (no SO_REUSEPORT): a port another process holds is an error, not a share. */
  private listen(uws: LoadedUws['uws'], app: TemplatedApp, host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const listen = app.listen as unknown as (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => void;
      // The pure-JS fallback has no such constant (Node's own listen never shares a port): 1 is uSockets' value.
      const exclusive = (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1;
      listen.call(app, host, port, exclusive, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${host}:${port}: the port is in use (another Vigil?) or the address is not available here`));
          return;
        }
        this.listenSockets.push(socket);
        resolve(uws.us_socket_local_port(socket as never));
      });
    });
  }

  private startPeriodicChecks(): void {
    const every = (ms: number, task: () => void | Promise<void>) => {
      this.stopTimers.push(this.time.every(ms, () => Promise.resolve()
        .then(task)
        .catch((error: unknown) => this.logger.error({ err: (error as Error).message }, 'periodic check failed'))));
    };
    if (this.options.monitoring) every(2000, () => this.policies.sweepAlerts());
    every(1000, () => this.policies.enforceGuardrails());
    if (this.store) every(5000, () => this.store!.sweep());
    if (this.options.watch) {
      const watcher = new RepositoryWatcher(this.layout, this.registry, this.logger, this.options.watchSettleMs);
      // Two scans must see a folder unchanged: scanning at half the settle time keeps the wait near it.
      every(Math.min(2000, Math.max(100, this.options.watchSettleMs / 2)), () => watcher.scan());
    }
  }
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function splitKey(key: string): [string, string] {
  const slash = key.lastIndexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

