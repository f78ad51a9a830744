/**
 * Traffic policy of one model: which versions take live traffic (weights) and which version,
 * if any, receives a mirrored sample (shadow). Pure data + validation + history; no HTTP.
 *
 * The same shape is used by `config.json` `traffic` and by `PUT /admin/models/{m}/traffic`.
 */
import type { ErrorObject } from 'ajv';
import { isVersionName, VERSION_PATTERN } from '../config/names.js';
import { ajvAllErrors } from '../config/ajv.js';
import { conflict, invalidField } from '../errors.js';
import { VersionSplitter } from './split.js';

export interface ShadowPolicy {
  /** Version that receives mirrored requests (must be loaded). */
  readonly version: string;
  /** Share of live requests mirrored, in [0, 100]. */
  readonly percent: number;
}

export interface TrafficPolicy {
  /** Relative weights by version; missing versions take no live traffic. Sum > 0. */
  readonly weights: Readonly<Record<string, number>>;
  readonly shadow: ShadowPolicy | null;
}

const policySchema = {
  type: 'object',
  properties: {
    weights: {
      type: 'object',
      propertyNames: { type: 'string', pattern: VERSION_PATTERN.source },
      additionalProperties: { type: 'number', minimum: 0 },
    },
    shadow: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          properties: {
            version: { type: 'string', pattern: VERSION_PATTERN.source },
            percent: { type: 'number', minimum: 0, maximum: 100 },
          },
          required: ['version', 'percent'],
          additionalProperties: false,
        },
      ],
    },
  },
  required: ['weights'],
  additionalProperties: false,
} as const;

const validateShape = ajvAllErrors.compile(policySchema);

/** Turns the most useful ajv error into a field + reason. */
export function ajvErrorToField(errors: readonly ErrorObject[], root = 'body'): { field: string; reason: string } {
  // Prefer errors that point deepest; anyOf wrappers are the least informative.
  const ranked = [...errors].sort((a, b) => score(b) - score(a));
  const e = ranked[0];
  if (!e) return { field: root, reason: 'is invalid' };
  let path = e.instancePath.replace(/^\//, '');
  let reason = e.message ?? 'is invalid';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      path = join(path, String(p.missingProperty));
      reason = 'is required';
      break;
    case 'additionalProperties':
      path = join(path, String(p.additionalProperty));
      reason = 'is not an allowed key';
      break;
    case 'pattern':
    case 'propertyNames':
      if (typeof p.propertyName === 'string') {
        path = join(path, p.propertyName);
        reason = 'version must be a positive integer string (e.g. "2")';
      } else if (e.keyword === 'pattern') {
        reason = 'version must be a positive integer string (e.g. "2")';
      }
      break;
    default:
      break;
  }
  return { field: path === '' ? root : path, reason };

  function score(err: ErrorObject): number {
    let s = err.instancePath.split('/').length * 10;
    if (err.keyword === 'anyOf') s -= 5;
    if (err.keyword === 'propertyNames') s -= 1; // its `pattern` child carries the key name
    if (typeof (err.params as Record<string, unknown>).propertyName === 'string') s += 5;
    return s;
  }
  function join(a: string, b: string): string {
    return a === '' ? b : `${a}/${b}`;
  }
}

/**
 * Validates a traffic policy (JSON body or config.json `traffic`) against the loaded versions.
 * `shadow` may be omitted (= null). Returns a fresh, frozen policy; throws a 400 VigilError naming the field.
 */
export function validateTrafficPolicy(body: unknown, loadedVersions: readonly string[]): TrafficPolicy {
  if (!validateShape(body)) {
    // The shadow anyOf reports the null branch too; drop "must be null" when the value is an object.
    const errors = (validateShape.errors ?? []).filter(
      (e) => !(e.keyword === 'type' && (e.params as { type?: string }).type === 'null' && e.instancePath === '/shadow'),
    );
    const { field, reason } = ajvErrorToField(errors);
    if (field === 'shadow' && reason === 'must be object') {
      throw invalidField(field, 'must be null or an object {"version", "percent"}');
    }
    throw invalidField(field, reason);
  }
  const input = body as { weights: Record<string, number>; shadow?: { version: string; percent: number } | null };
  const loaded = new Set(loadedVersions);
  const weights: Record<string, number> = {};
  let sum = 0;
  for (const v of Object.keys(input.weights).sort(byVersion)) {
    const w = input.weights[v]!;
    if (!Number.isFinite(w)) throw invalidField(`weights/${v}`, 'must be a finite number');
    if (!loaded.has(v)) throw invalidField(`weights/${v}`, `version ${v} is not loaded`);
    weights[v] = w;
    sum += w;
  }
  if (!(sum > 0)) throw invalidField('weights', 'weights must have a positive sum');
  let shadow: ShadowPolicy | null = null;
  if (input.shadow != null) {
    const { version, percent } = input.shadow;
    if (!loaded.has(version)) throw invalidField('shadow/version', `version ${version} is not loaded`);
    if (!Number.isFinite(percent)) throw invalidField('shadow/percent', 'must be a finite number');
    shadow = Object.freeze({ version, percent });
  }
  return Object.freeze({ weights: Object.freeze(weights), shadow });
}

/** Ascending numeric order of version names. */
export function byVersion(a: string, b: string): number {
  const d = Number(a) - Number(b);
  return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
}

/** With no traffic config the highest version takes all traffic. */
export function defaultPolicy(versions: readonly string[]): TrafficPolicy {
  if (versions.length === 0) throw conflict('no versions loaded');
  const highest = [...versions].sort(byVersion)[versions.length - 1]!;
  return Object.freeze({ weights: Object.freeze({ [highest]: 100 }), shadow: null });
}

/** Versions with weight > 0, ascending. */
export function liveVersions(policy: TrafficPolicy): string[] {
  return Object.keys(policy.weights)
    .filter((v) => (policy.weights[v] ?? 0) > 0)
    .sort(byVersion);
}

/**
 * Primary = live version with the largest weight (ties go to the lower, i.e. older, version);
 * canaries = the other live versions. Used by guardrails.
 */
export function rolesOf(policy: TrafficPolicy): { primary: string; canaries: string[] } {
  const live = liveVersions(policy);
  let primary = live[0]!;
  for (const v of live) if (policy.weights[v]! > policy.weights[primary]!) primary = v;
  return { primary, canaries: live.filter((v) => v !== primary) };
}

/**
 * Current policy of one model plus a bounded history for rollback. Every change (set, promote,
 * setWeight) pushes the previous policy; rollback pops it. The splitter for the current
 * weights is rebuilt on each change, so the request path just reads `state.splitter`.
 */
export class TrafficState {
  private current: TrafficPolicy;
  private readonly history: TrafficPolicy[] = [];
  private currentSplitter: VersionSplitter;
  private rev = 0;

  constructor(
    initial: TrafficPolicy,
    private readonly maxHistory = 50,
  ) {
    this.current = initial;
    this.currentSplitter = new VersionSplitter(initial.weights);
  }

  get(): TrafficPolicy {
    return this.current;
  }

  /** Splitter for the current weights. */
  get splitter(): VersionSplitter {
    return this.currentSplitter;
  }

  /** Increments on every change (set/promote/setWeight/rollback). */
  get revision(): number {
    return this.rev;
  }

  get canRollback(): boolean {
    return this.history.length > 0;
  }

  /** Replaces the policy (already validated), remembering the previous one. Returns the previous. */
  set(policy: TrafficPolicy): TrafficPolicy {
    const splitter = new VersionSplitter(policy.weights); // throws before any state changes
    const previous = this.current;
    this.history.push(previous);
    if (this.history.length > this.maxHistory) this.history.shift();
    this.install(policy, splitter);
    return previous;
  }

  /** Back to the policy before the last change; throws a 409 VigilError when there is none. */
  rollback(): TrafficPolicy {
    const previous = this.history.pop();
    if (previous === undefined) throw conflict('nothing to roll back to');
    this.install(previous, new VersionSplitter(previous.weights));
    return previous;
  }

  /** `version` takes 100 % of live traffic; a shadow on that same version is dropped. */
  promote(version: string): TrafficPolicy {
    if (!isVersionName(version)) throw conflict(`invalid version "${version}"`);
    const shadow = this.current.shadow !== null && this.current.shadow.version === version ? null : this.current.shadow;
    const policy: TrafficPolicy = Object.freeze({ weights: Object.freeze({ [version]: 100 }), shadow });
    this.set(policy);
    return policy;
  }

  /** Sets one version's weight (e.g. 0 when a guardrail trips). Throws if the sum would be 0. */
  setWeight(version: string, weight: number): TrafficPolicy {
    if (!isVersionName(version)) throw conflict(`invalid version "${version}"`);
    if (!Number.isFinite(weight) || weight < 0) throw conflict(`invalid weight ${weight}`);
    // A zeroed version stays listed with weight 0 so GET /traffic shows what happened.
    const weights: Record<string, number> = { ...this.current.weights, [version]: weight };
    let sum = 0;
    for (const w of Object.values(weights)) sum += w;
    if (!(sum > 0)) throw conflict(`setting version ${version} to ${weight} leaves no live traffic`);
    const policy: TrafficPolicy = Object.freeze({ weights: Object.freeze(weights), shadow: this.current.shadow });
    this.set(policy);
    return policy;
  }

  /** True when `version` takes live traffic (weight > 0): it must not be unloaded. */
  isLive(version: string): boolean {
    return (this.current.weights[version] ?? 0) > 0;
  }

  /** True when `version` is the current shadow target. */
  isShadow(version: string): boolean {
    return this.current.shadow !== null && this.current.shadow.version === version;
  }

  private install(policy: TrafficPolicy, splitter: VersionSplitter): void {
    this.current = policy;
    this.currentSplitter = splitter;
    this.rev++;
  }
}
