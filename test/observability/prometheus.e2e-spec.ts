import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../support/broker';
import { FakePipedream } from '../support/fake-pipedream';
import { startPrometheus, type PrometheusHandle } from '../support/prometheus';
import { dashboardQueries, withVariables, type Dashboard } from './dashboard-queries';
import { registerClient, startRunningBroker, type RunningBroker } from './running-broker';

const ROOT = join(__dirname, '..', '..');
const RULES = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const DASHBOARD = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'token-broker.json'), 'utf8')) as Dashboard;
/**
 * The webhook module, not merged yet, will emit tb_webhook_deliveries_total{outcome} and
 * tb_webhook_pending: until then the webhook panels and alerts have no series against a real broker,
 * and are left out here (promtool's unit tests cover their rules with synthetic series).
 */
/** Long enough for rate() to see a few 1 s scrapes, as Grafana's $__rate_interval would. */
const RATE_INTERVAL = '10s';
const DATA_DEADLINE_MS = 45_000;

interface RuleGroup {
  rules: { name: string; query: string; health: string; lastError?: string; type: string }[];
}

/** Metric selectors of a PromQL expression: our metric names (tb_*) and `up`, with their label matchers. */
function selectorsOf(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(tb_[a-z0-9_]+|up)\b(\{[^}]*\})?(?!\s*\()/g)].map((match) => match[1]))];
}

/** Polls every query until each returns at least one sample; returns those still empty at the deadline. */
async function emptyAfterWaiting(prometheus: PrometheusHandle, queries: string[]): Promise<string[]> {
  const deadline = Date.now() + DATA_DEADLINE_MS;
  let empty = queries;
  for (;;) {
    const results = await Promise.all(empty.map(async (query) => ({ query, samples: await prometheus.query(query) })));
    empty = results.filter(({ samples }) => samples.length === 0).map(({ query }) => query);
    if (empty.length === 0 || Date.now() > deadline) return empty;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

describe('a real Prometheus (Debian package) scraping a real broker', () => {
  let upstream: FakePipedream;
  let broker: RunningBroker;
  let prometheus: PrometheusHandle;
  let traffic: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    // Tokens of 8 s with a 1 s MIN_TTL: a scheduled refresh every few seconds feeds the refresh and upstream series.
    upstream = await FakePipedream.start({ expiresIn: 8 });
    broker = await startRunningBroker(upstream, { MIN_TOKEN_TTL_SECONDS: '1', SCHEDULER_TICK_MS: '200' });
    prometheus = await startPrometheus([broker.url.replace('http://', '')], [RULES]);
    const { id } = await registerClient(broker, upstream, {
      workspaceId: 'o_observe',
      clientId: 'observe-client',
      clientSecret: 'observe-secret-0001',
    });
    // One transient failure, so the upstream error series exist as they would in any real week.
    upstream.fail('503', { times: 1 });
    // Bounded traffic until afterAll: a token from memory (hit) and an unknown client (a miss, timed).
    traffic = setInterval(() => {
      void fetch(`${broker.url}/v1/clients/${id}/token`, { headers: broker.admin }).then(
        (answer) => answer.arrayBuffer(),
        () => null,
      );
      void fetch(`${broker.url}/v1/clients/cl_unknown/token`, { headers: broker.admin }).then(
        (answer) => answer.arrayBuffer(),
        () => null,
      );
    }, 250);
  }, 90_000);

  afterAll(async () => {
    clearInterval(traffic);
    await prometheus?.stop();
    await broker?.stop();
    await upstream?.stop();
  });

  it('every dashboard expression returns data', async () => {
    const queries = dashboardQueries(DASHBOARD).map(({ expr }) => withVariables(expr, RATE_INTERVAL));
    expect(queries.length).toBeGreaterThanOrEqual(18);
    expect(await emptyAfterWaiting(prometheus, queries)).toEqual([]);
  }, 60_000);

  it('loads every alert rule, and each evaluates without error against the broker', async () => {
    const rules = await eventually(async () => {
      const answer = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
        data: { groups: RuleGroup[] };
      };
      const loaded = answer.data.groups.flatMap((group) => group.rules);
      return loaded.length > 0 && loaded.every((rule) => rule.health !== 'unknown') ? loaded : null;
    });
    expect(rules).toHaveLength(10);
    for (const rule of rules)
      expect({ rule: rule.name, health: rule.health, lastError: rule.lastError ?? '' }).toEqual({
        rule: rule.name,
        health: 'ok',
        lastError: '',
      });
  }, 30_000);

  /**
   * An alert's expression is empty while all is well (no client rejected, no host failing): that is the
   * point of it. So each expression must be a query Prometheus accepts, and every series it is built on
   * must exist, with the labels it filters on, against the real broker.
   */
  it('every alert expression is a valid query over series the broker exports', async () => {
    const answer = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: RuleGroup[] } };
    const rules = answer.data.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.name)).toHaveLength(10);
    const selectors = new Set<string>();
    for (const rule of rules) {
      expect({ rule: rule.name, accepted: Array.isArray(await prometheus.query(rule.query)) }).toEqual({
        rule: rule.name,
        accepted: true,
      });
      for (const selector of selectorsOf(rule.query)) selectors.add(selector);
    }
    expect([...selectors].sort()).toEqual([
      'tb_clients',
      'tb_ready',
      'tb_refresh_lag_seconds_bucket',
      'tb_refresh_overdue_seconds',
      'tb_store_up',
      'tb_tokens_served_below_min_ttl_total',
      'tb_upstream_circuit_state',
      'tb_upstream_requests_total',
      'tb_webhook_deliveries_total',
      'tb_webhook_pending',
      'up',
    ]);
    expect(await emptyAfterWaiting(prometheus, [...selectors, ...labelledSelectors])).toEqual([]);
  }, 60_000);
});

/** The label values the alerts filter on, each of which the broker must export (transient: after the 503 above). */
const labelledSelectors = [
  'tb_clients{state="rejected"}',
  'tb_clients{state="failing"}',
  'tb_upstream_requests_total{outcome="transient"}',
  'tb_upstream_circuit_state{state="open"}',
  'tb_upstream_circuit_state{state="half_open"}',
  'up{job="token-broker"}',
  'tb_webhook_deliveries_total{outcome="failed"}',
];
