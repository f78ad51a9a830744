// The shape of the inference-ceiling report (native-bench/ort-throughput.ts --json) and its
// table. Kept free of onnxruntime-node so the bench harness can read reports without loading ORT.

export interface OrtThroughputRow {
  model: string;
  version: string;
  batch: number;
  calls: number;
  seconds: number;
  usPerCall: number;
  rowsPerSecond: number;
}

export interface OrtThroughputReport {
  onnxruntime: string;
  sessionOptions: Record<string, unknown>;
  secondsPerPoint: number;
  results: OrtThroughputRow[];
  skipped: string[];
}

export function formatOrtTable(report: OrtThroughputReport): string {
  const header = ['model/version', 'batch', 'µs/call', 'rows/s'];
  const lines = report.results.map((r) => [
    `${r.model}/${r.version}`,
    String(r.batch),
    r.usPerCall.toFixed(1),
    Math.round(r.rowsPerSecond).toLocaleString('en-US'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}
