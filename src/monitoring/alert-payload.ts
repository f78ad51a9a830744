/**
 * Vigil's alerts in the Alertmanager webhook format (version "4"), so one receiver serves both
 * Alertmanager and Vigil: a notification carries a group of alerts with their labels,
 * annotations, startsAt/endsAt, fingerprint, and the group's common labels.
 * https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
 */

export type AlertStatus = 'firing' | 'resolved';

/** One alert transition as Vigil raises or resolves it. */
export interface AlertEvent {
  /** Alertmanager's `alertname`, e.g. VigilDataDrift */
  name: string;
  status: AlertStatus;
  /** identifying labels (model, version, role, column, …); `alertname` is added */
  labels: Record<string, string>;
  /** human-readable details (summary, description, values) */
  annotations: Record<string, string>;
  /** when the alert started firing (ms since the epoch) */
  startsAt: number;
  /** when it resolved (ms since the epoch); resolved alerts only */
  endsAt?: number;
}

export interface WebhookAlert {
  status: AlertStatus;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookMessage {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: AlertStatus;
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

/** Alertmanager writes Go's zero time as the end of an alert still firing. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Labels Vigil groups notifications by (Alertmanager's `group_by`). */
const GROUP_BY = ['alertname', 'model'];

/**
 * Alertmanager's fingerprint of a label set (prometheus/common model.LabelSet.Fingerprint):
 * FNV-1a 64 over the labels sorted by name, each name and value followed by a 0xff byte, as
 * 16 hex digits.
 */
export function fingerprint(labels: Record<string, string>): string {
  const prime = 0x100000001b3n;
  let hash = 0xcbf29ce484222325n;
  const add = (byte: number) => {
    hash ^= BigInt(byte);
    hash = (hash * prime) & 0xffffffffffffffffn;
  };
  const encoder = new TextEncoder();
  for (const name of Object.keys(labels).sort()) {
    for (const byte of encoder.encode(name)) add(byte);
    add(0xff);
    for (const byte of encoder.encode(labels[name]!)) add(byte);
    add(0xff);
  }
  return hash.toString(16).padStart(16, '0');
}

/** The webhook body for one alert event. */
export function webhookMessage(event: AlertEvent, externalURL: string, receiver = 'vigil'): WebhookMessage {
  const labels = sortedRecord({ ...event.labels, alertname: event.name });
  const annotations = sortedRecord(event.annotations);
  const groupLabels = sortedRecord(Object.fromEntries(GROUP_BY.filter((l) => l in labels).map((l) => [l, labels[l]!])));
  const groupKey = `{}:{${Object.entries(groupLabels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
  const endsAt = event.status === 'resolved' ? new Date(event.endsAt ?? Date.now()).toISOString() : ZERO_TIME;
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: event.status,
    receiver,
    groupLabels,
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL,
    alerts: [{
      status: event.status,
      labels,
      annotations,
      startsAt: new Date(event.startsAt).toISOString(),
      endsAt,
      generatorURL: `${externalURL.replace(/\/$/, '')}/dashboard`,
      fingerprint: fingerprint(labels),
    }],
  };
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(record).sort().map((k) => [k, String(record[k])]));
}
