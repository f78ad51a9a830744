// How one version is watched, read from its config.json and reference.json: the drift window
// and its alert rule, how its answers are scored against ground truth (task, classes, the
// concept-drift thresholds) and which feature columns data quality checks against which range.
import type { ModelConfig, PerformanceConfig } from '../config/model-config.js';
import type { Reference } from '../config/reference.js';
import type { PredictionReader } from '../inference/predictions.js';
import { DEFAULT_PERFORMANCE_CONFIG } from '../monitoring/concept-drift.js';
import { DEFAULT_DATA_QUALITY_CONFIG } from '../monitoring/data-quality.js';
import { DEFAULT_DRIFT_ALERT_OPTIONS } from '../monitoring/drift-alerts.js';
import type { DriftOptions } from '../monitoring/drift.js';
import type { MonitorSettings } from '../monitoring/version-monitor.js';

export function monitorSettings(
  config: ModelConfig | null,
  reference: Reference | null,
  reader: PredictionReader,
  featureNames: readonly string[] | null,
  driftDefaults: DriftOptions,
): MonitorSettings {
  const drift = config?.drift ?? {};
  return {
    drift: {
      slices: drift.slices ?? driftDefaults.slices,
      sliceSeconds: drift.slice_seconds ?? driftDefaults.sliceSeconds,
      minSamples: drift.min_samples ?? driftDefaults.minSamples,
    },
    driftAlerts: {
      psiAlert: drift.psi_alert ?? DEFAULT_DRIFT_ALERT_OPTIONS.psiAlert,
      alpha: drift.alpha ?? DEFAULT_DRIFT_ALERT_OPTIONS.alpha,
      consecutive: drift.consecutive ?? DEFAULT_DRIFT_ALERT_OPTIONS.consecutive,
    },
    scoring: scoring(config, reference, reader),
    quality: quality(config, reference, featureNames),
  };
}

/** Classifiers need their class count (to validate labels and size the confusion counts). */
function scoring(config: ModelConfig | null, reference: Reference | null, reader: PredictionReader): MonitorSettings['scoring'] {
  const task = config?.task;
  if (task === 'regression') return { task, classes: 0, concept: concept(config, DEFAULT_PERFORMANCE_CONFIG.regressor) };
  if (task !== 'binary-classification' && task !== 'multiclass-classification') return null;
  const label = reference?.outputs.find((o) => o.name === 'label');
  const classes = task === 'binary-classification'
    ? 2
    : config?.classes?.length ?? reader.declaredClasses ?? (label ? label.edges.length + 1 : null);
  if (classes === null || classes < 2) return null;
  return { task, classes, concept: concept(config, DEFAULT_PERFORMANCE_CONFIG.classifier) };
}

function concept(config: ModelConfig | null, defaults: PerformanceConfig): PerformanceConfig {
  const performance = config?.performance ?? {};
  return {
    min_labels: performance.min_labels ?? defaults.min_labels,
    margin: performance.margin ?? defaults.margin,
    metrics: performance.metrics ?? [...defaults.metrics],
  };
}

/** Named features, with the training range reference.json gives each (none without it). */
function quality(config: ModelConfig | null, reference: Reference | null, featureNames: readonly string[] | null): MonitorSettings['quality'] {
  if (!featureNames) return null;
  const ranges = new Map((reference?.features ?? []).map((f) => [f.name, f]));
  return {
    columns: featureNames.map((name) => ({ name, min: ranges.get(name)?.min, max: ranges.get(name)?.max })),
    config: { ...DEFAULT_DATA_QUALITY_CONFIG, ...config?.data_quality },
  };
}
