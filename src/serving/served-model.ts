// One served model: its versions and the state of each (as Triton's model life cycle has it:
// loading, ready, draining, unavailable, with the reason), its traffic policy, canary guard and
// shadow agreement trackers.
import type { ModelConfig, Task } from '../config/model-config.js';
import type { Clock } from '../monitoring/clock.js';
import { CanaryGuard, GUARDRAIL_DEFAULTS, validateGuardrailConfig } from '../routing/guardrails.js';
import { AgreementTracker, ShadowSampler } from '../routing/shadow.js';
import { byVersion, type TrafficState } from '../routing/traffic.js';
import type { ServedVersion } from './served-version.js';

export type VersionState = 'loading' | 'ready' | 'draining' | 'unavailable';

export interface VersionStatus {
  version: string;
  state: VersionState;
  /** Why the version is not ready (null when it is). */
  reason: string | null;
}

export class ServedModel {
  /** Versions holding a session in every worker: ready, or draining before an unload. */
  readonly versions = new Map<string, ServedVersion>();
  /** Versions without a session: being loaded, or unavailable with the reason. */
  private readonly unloaded = new Map<string, VersionStatus>();
  readonly task: Task;
  traffic: TrafficState | null = null;
  readonly guard: CanaryGuard | null;
  readonly agreements = new Map<string, AgreementTracker>();
  /** Versions the admin API unloaded: --watch leaves them alone until the admin API loads them. */
  readonly unloadedOnPurpose = new Set<string>();
  private shadowSampler: { revision: number; sampler: ShadowSampler | null } = { revision: -1, sampler: null };

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly config: ModelConfig | null,
    /** Why the whole model cannot be served (an unreadable config.json), or null. */
    readonly modelError: string | null,
    clock: Clock,
  ) {
    this.task = config?.task ?? 'raw';
    const guardrails = config?.guardrails ? validateGuardrailConfig(config.guardrails) : { ...GUARDRAIL_DEFAULTS };
    this.guard = guardrails.enabled ? new CanaryGuard(guardrails, clock) : null;
  }

  /** Serving when its config is sound and at least one version is loaded. */
  get ready(): boolean {
    return this.traffic !== null && this.modelError === null && this.versions.size > 0;
  }

  status(version: string): VersionStatus | undefined {
    const served = this.versions.get(version);
    if (served) return { version, state: served.state, reason: served.state === 'draining' ? 'unloading: finishing queued requests' : null };
    return this.unloaded.get(version);
  }

  /** Every version the model knows, ascending. */
  statuses(): VersionStatus[] {
    const versions = new Set([...this.versions.keys(), ...this.unloaded.keys()]);
    return [...versions].sort(byVersion).map((v) => this.status(v)!);
  }

  markLoading(version: string, reason = 'loading into every worker'): void {
    if (!this.versions.has(version)) this.unloaded.set(version, { version, state: 'loading', reason });
  }

  markUnavailable(version: string, reason: string): void {
    this.unloaded.set(version, { version, state: 'unavailable', reason });
  }

  /** The version now holds a session (or was unloaded on purpose): nothing to report. */
  clearStatus(version: string): void {
    this.unloaded.delete(version);
  }

  /** Load failures, as /stats has always listed them: the model's own, then each version's. */
  get errors(): { version?: string; message: string }[] {
    const errors: { version?: string; message: string }[] = [];
    if (this.modelError !== null) errors.push({ message: this.modelError });
    else if (this.versions.size === 0 && this.unloaded.size === 0) {
      errors.push({ message: `no version folders (1, 2, …) with a model.onnx under ${this.name}` });
    }
    for (const status of this.unloaded.values()) {
      if (status.state === 'unavailable') errors.push({ version: status.version, message: status.reason! });
    }
    return errors;
  }

  get agreementTolerance(): number {
    return this.config?.traffic?.agreement_tolerance ?? 0;
  }

  shadow(): ShadowSampler | null {
    const traffic = this.traffic;
    if (!traffic) return null;
    if (this.shadowSampler.revision !== traffic.revision) {
      const shadow = traffic.get().shadow;
      this.shadowSampler = { revision: traffic.revision, sampler: shadow ? new ShadowSampler(shadow.percent) : null };
    }
    return this.shadowSampler.sampler;
  }

  agreement(live: string, shadow: string): AgreementTracker {
    const id = `${live}\u0000${shadow}`;
    let tracker = this.agreements.get(id);
    if (!tracker) {
      tracker = new AgreementTracker(this.name, live, shadow);
      this.agreements.set(id, tracker);
    }
    return tracker;
  }

  loadedVersions(): string[] {
    return [...this.versions.keys()].sort(byVersion);
  }
}
