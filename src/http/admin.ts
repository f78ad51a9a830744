// Admin API under /admin: traffic weights and shadow, version load/unload, promote, rollback.
// Off (404) without VIGIL_ADMIN_TOKEN; the bearer token is compared in constant time, and
// every change is logged with who (a token fingerprint) and what (old -> new).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { badRequest, conflict, notFound, notReady, unauthorized, VigilError } from '../errors.js';
import type { ModelRegistry, ServedModel } from '../serving/registry.js';
import { liveVersions, validateTrafficPolicy } from '../routing/traffic.js';
import { isVersionName } from '../config/names.js';
import { bearer, hashKeys, matchesAnyKey } from './access.js';
import type { Exchange } from './exchange.js';
import { readJsonObject } from './json-body.js';
import type { Handler, Router } from './router.js';

export interface AdminContext {
  registry: ModelRegistry;
  token: string | null;
  logger: Logger;
  maxBodyBytes: number;
}

export function mountAdmin(router: Router, context: AdminContext): void {
  const expected = context.token === null ? null : hashKeys([context.token]);
  const tokenId = context.token === null ? null : createHash('sha256').update(context.token).digest('hex').slice(0, 8);

  /** Wraps a handler with the admin checks: off → 404, bad token → 401. */
  const guarded = (handler: (ex: Exchange, model: ServedModel, params: string[]) => unknown): Handler =>
    async (ex, params) => {
      if (!expected) throw notFound(`no route ${ex.method} ${ex.url} (the admin API is off: set VIGIL_ADMIN_TOKEN)`);
      const token = bearer(ex.header('authorization'));
      if (token === null || !matchesAnyKey(token, expected)) throw unauthorized('admin bearer token (VIGIL_ADMIN_TOKEN)');
      const model = context.registry.get(params[0]!);
      if (!model) throw notFound(`unknown model '${params[0]}'`);
      await handler(ex, model, params);
    };

  const audit = (model: ServedModel, action: string, fields: Record<string, unknown>) =>
    context.logger.info({ admin: tokenId, model: model.name, action, ...fields }, 'admin change');

  const answerTraffic = (ex: Exchange, model: ServedModel) => {
    if (!model.traffic) throw notReady(`model '${model.name}' (no loaded version)`);
    ex.sendJson(200, model.traffic.get());
  };

  const checkVersionName = (version: string) => {
    if (!isVersionName(version)) throw badRequest(`version '${version}' is not a version folder name (a positive integer)`);
  };

  router
    .route('/admin/models/:model/traffic', {
      GET: guarded((ex, model) => answerTraffic(ex, model)),
      PUT: guarded(async (ex, model) => {
        const body = await readJsonObject(ex, context.maxBodyBytes);
        const routable = model.loadedVersions().filter((v) => model.versions.get(v)!.state === 'ready');
        const policy = validateTrafficPolicy(body, routable);
        const before = model.traffic?.get() ?? null;
        if (model.traffic) model.traffic.set(policy);
        audit(model, 'set traffic', { old: before, new: policy });
        answerTraffic(ex, model);
      }),
    }, 'admin')
    .route('/admin/models/:model/versions/:version/load', {
      POST: guarded(async (ex, model, [, version]) => {
        checkVersionName(version!);
        try {
          await context.registry.loadVersion(model, version!);
        } catch (error) {
          const message = (error as Error).message;
          if (error instanceof VigilError && error.status === 404) throw notFound(`model '${model.name}' has no version folder '${version}': ${message}`);
          throw badRequest(`version ${version} of '${model.name}' cannot be loaded: ${message}`);
        }
        audit(model, 'load version', { version, loaded: model.loadedVersions() });
        ex.sendJson(200, { model: model.name, version, state: 'ready', versions: model.loadedVersions(), traffic: model.traffic?.get() ?? null });
      }),
    }, 'admin')
    .route('/admin/models/:model/versions/:version/unload', {
      POST: guarded(async (ex, model, [, version]) => {
        checkVersionName(version!);
        const served = model.versions.get(version!);
        if (!served) throw notFound(`model '${model.name}' has no loaded version '${version}'`);
        if (model.traffic?.isLive(version!)) {
          throw conflict(`version ${version} of '${model.name}' serves live traffic (weights ${JSON.stringify(model.traffic.get().weights)}); move its weight to 0 first`);
        }
        if (model.traffic?.isShadow(version!)) {
          throw conflict(`version ${version} of '${model.name}' is the shadow target; set shadow to null first`);
        }
        await context.registry.unloadVersion(model, served);
        audit(model, 'unload version', { version, loaded: model.loadedVersions() });
        ex.sendJson(200, { model: model.name, version, state: 'unloaded', versions: model.loadedVersions() });
      }),
    }, 'admin')
    .route('/admin/models/:model/promote', {
      POST: guarded(async (ex, model) => {
        const body = await readJsonObject(ex, context.maxBodyBytes);
        const version = body.version;
        if (typeof version !== 'string' && !Number.isInteger(version)) throw badRequest('version is required, e.g. {"version": "2"}');
        const name = String(version);
        const served = model.versions.get(name);
        if (!served || served.state !== 'ready') throw badRequest(`version: ${name} is not loaded (loaded: ${model.loadedVersions().join(', ')})`);
        const before = model.traffic!.get();
        model.traffic!.promote(name);
        audit(model, 'promote', { old: before, new: model.traffic!.get() });
        answerTraffic(ex, model);
      }),
    }, 'admin')
    .route('/admin/models/:model/rollback', {
      POST: guarded((ex, model) => {
        const traffic = model.traffic;
        if (!traffic?.canRollback) throw conflict(`model '${model.name}' has no earlier traffic to roll back to`);
        const before = traffic.get();
        traffic.rollback();
        const missing = liveVersions(traffic.get()).filter((v) => !model.versions.has(v));
        if (missing.length) {
          traffic.set(before); // the earlier weights name unloaded versions: keep the current ones
          throw conflict(`the earlier traffic routes to version(s) ${missing.join(', ')}, which are no longer loaded`);
        }
        audit(model, 'rollback', { old: before, new: traffic.get() });
        answerTraffic(ex, model);
      }),
    }, 'admin');
}
