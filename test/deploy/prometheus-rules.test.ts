// deploy/prometheus under promtool (Debian package `prometheus`): the rule files pass
// `promtool check rules`, their unit tests pass `promtool test rules`, and those tests cover
// every recording rule and show every alert both firing and quiet. The example Prometheus and
// Alertmanager configurations pass `promtool check config` and `amtool check-config`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AMTOOL, PROMTOOL } from '../helpers/prometheus.js';
import { ROOT } from '../helpers/server.js';

const DIR = join(ROOT, 'deploy/prometheus');
const RULE_FILES = ['rules.yml', 'alerts.yml'];
const TEST_FILES = ['tests/rules.test.yml', 'tests/alerts.test.yml'];

interface RuleFile { groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[] }
interface UnitTestFile {
  tests: {
    promql_expr_test?: { expr: string }[];
    alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
  }[];
}

function promtool(args: string[], tool = PROMTOOL) {
  const result = spawnSync(tool, args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const rules = RULE_FILES.flatMap((file) => (parse(readFileSync(join(DIR, file), 'utf8')) as RuleFile).groups.flatMap((g) => g.rules));
const unitTests = TEST_FILES.flatMap((file) => (parse(readFileSync(join(DIR, file), 'utf8')) as UnitTestFile).tests);

describe('deploy/prometheus rules and alerts', () => {
  it('pass promtool check rules', () => {
    const result = promtool(['check', 'rules', ...RULE_FILES]);
    expect(result.output).toContain(`SUCCESS: ${rules.filter((r) => r.record).length} rules found`);
    expect(result.status, result.output).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const result = promtool(['test', 'rules', ...TEST_FILES]);
    expect(result.output, result.output).not.toContain('FAILED');
    expect(result.status, result.output).toBe(0);
  });

  it('every recording rule is evaluated by a unit test', () => {
    const exprs = unitTests.flatMap((t) => t.promql_expr_test ?? []).map((t) => t.expr);
    const untested = rules.filter((r) => r.record).map((r) => r.record!)
      .filter((name) => !exprs.some((expr) => new RegExp(`${name.replace(/[:]/g, '\\:')}(?![a-z0-9_:])`).test(expr)));
    expect(untested).toEqual([]);
  });

  it('every alert is shown firing and shown quiet', () => {
    const cases = unitTests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of rules.filter((r) => r.alert).map((r) => r.alert!)) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} fires in some test`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} stays quiet in some test`).toBe(true);
    }
  });

  // Debian's Prometheus is built without Kubernetes service discovery, so its promtool rejects
  // kubernetes_sd_configs: the check swaps that one block for static_configs and validates the
  // rest (relabelling, rule files, alerting) as written.
  it('the example prometheus.yml passes promtool check config', () => {
    const text = readFileSync(join(DIR, 'prometheus.yml'), 'utf8');
    const swapped = text.replace(/^    kubernetes_sd_configs:\n      - role: pod$/m, '    static_configs:\n      - targets: ["127.0.0.1:8080"]');
    expect(swapped).not.toBe(text);
    const dir = mkdtempSync(join(tmpdir(), 'vigil-promconfig-'));
    try {
      writeFileSync(join(dir, 'prometheus.yml'), swapped);
      for (const file of RULE_FILES) writeFileSync(join(dir, file), readFileSync(join(DIR, file)));
      const result = promtool(['check', 'config', join(dir, 'prometheus.yml')]);
      expect(result.output).toContain('SUCCESS: 2 rule files found');
      expect(result.status, result.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the example alertmanager.yml passes amtool check-config', () => {
    const result = promtool(['check-config', join(ROOT, 'deploy/alertmanager/alertmanager.yml')], AMTOOL);
    expect(result.output).toContain('SUCCESS');
    expect(result.status, result.output).toBe(0);
  });
});
