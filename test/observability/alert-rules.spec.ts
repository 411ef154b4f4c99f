import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROMTOOL, assertPrometheusInstalled } from '../support/prometheus';

const RULES = join(__dirname, '..', '..', 'deploy', 'prometheus', 'alerts.yml');
const RULE_TESTS = join(__dirname, '..', '..', 'deploy', 'prometheus', 'alerts.test.yml');

/** The alerts the operators' guide promises (README "Operating it"). */
const EXPECTED_ALERTS = [
  'TokenBrokerClientRejected',
  'TokenBrokerClientsFailing',
  'TokenBrokerTokenServedBelowMinTtl',
  'TokenBrokerRefreshesBehindSchedule',
  'TokenBrokerUpstreamErrors',
  'TokenBrokerCircuitOpen',
  'TokenBrokerWebhookDeliveriesFailing',
  'TokenBrokerWebhookBacklog',
  'TokenBrokerStoreUnreachable',
  'TokenBrokerReplicaNotReady',
];

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Each `- eval_time:` block of the unit tests: the alert it checks and whether it expects it to fire. */
function evaluations(testFile: string): { alertname: string; fires: boolean }[] {
  return testFile
    .split(/^\s*- eval_time:/m)
    .slice(1)
    .map((block) => ({
      alertname: /alertname: (\S+)/.exec(block)?.[1] ?? '',
      fires: !/exp_alerts: \[\]/.test(block),
    }));
}

describe('deploy/prometheus/alerts.yml with promtool (Debian prometheus package)', () => {
  beforeAll(() => assertPrometheusInstalled());

  it('promtool check rules accepts every rule', () => {
    const { status, output } = promtool('check', 'rules', RULES);
    expect(output).toContain(`SUCCESS: ${EXPECTED_ALERTS.length} rules found`);
    expect(status).toBe(0);
  });

  it('promtool test rules passes the unit tests', () => {
    const { status, output } = promtool('test', 'rules', RULE_TESTS);
    expect(output).toContain('SUCCESS');
    expect(output).not.toContain('FAILED');
    expect(status).toBe(0);
  });

  it('every alert has a summary and a runbook, and a unit test that shows it firing and one that shows it silent', () => {
    const rules = readFileSync(RULES, 'utf8');
    const alerts = [...rules.matchAll(/^\s*- alert: (\S+)/gm)].map((match) => match[1]);
    expect(alerts).toEqual(EXPECTED_ALERTS);
    const annotated = rules.split(/^\s*- alert: /m).slice(1);
    for (const block of annotated) {
      expect(block).toMatch(/\n\s+summary: /);
      expect(block).toMatch(/\n\s+runbook: /);
    }
    const checks = evaluations(readFileSync(RULE_TESTS, 'utf8'));
    for (const alert of alerts) {
      expect({ alert, fires: checks.some((check) => check.alertname === alert && check.fires) }).toEqual({
        alert,
        fires: true,
      });
      expect({ alert, silent: checks.some((check) => check.alertname === alert && !check.fires) }).toEqual({
        alert,
        silent: true,
      });
    }
  });
});
