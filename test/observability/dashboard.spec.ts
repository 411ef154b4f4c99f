import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dashboardQueries, type Dashboard } from './dashboard-queries';

const DASHBOARD = join(__dirname, '..', '..', 'deploy', 'grafana', 'token-broker.json');

/** Grafana's own import is not available here: this checks what it would refuse or render wrong. */
describe('deploy/grafana/token-broker.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

  it('is a Grafana dashboard of schema 39 with a datasource and a multi-select replica variable', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe('token-broker');
    const variables = dashboard.templating.list;
    expect(variables.find((variable) => variable.name === 'datasource')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
    expect(variables.find((variable) => variable.name === 'instance')).toMatchObject({
      type: 'query',
      includeAll: true,
      multi: true,
      allValue: '.*',
      definition: 'label_values(tb_ready, instance)',
    });
  });

  it('panels have unique ids, do not overlap, and fit the 24-column grid', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const { gridPos, title } of dashboard.panels) {
      expect({ title, fits: gridPos.x >= 0 && gridPos.x + gridPos.w <= 24 }).toEqual({ title, fits: true });
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x += 1) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y += 1) {
          expect({ title, overlaps: cells.has(`${x},${y}`) }).toEqual({ title, overlaps: false });
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('shows what the operators need, every query filtered by the replica variable', () => {
    const queries = dashboardQueries(dashboard);
    const metrics = queries.map((query) => query.expr).join('\n');
    for (const metric of [
      'tb_token_requests_total',
      'tb_token_request_duration_seconds_bucket',
      'tb_refresh_lag_seconds_bucket',
      'tb_refresh_overdue_seconds',
      'tb_clients',
      'tb_upstream_requests_total',
      'tb_upstream_request_duration_seconds_bucket',
      'tb_upstream_circuit_state',
      'tb_webhook_deliveries_total',
      'tb_webhook_pending',
      'tb_store_up',
      'tb_ready',
    ]) {
      expect(metrics).toContain(metric);
    }
    for (const { panel, expr } of queries) {
      expect({ panel, filtered: expr.includes('instance=~"$instance"') }).toEqual({ panel, filtered: true });
    }
  });
});
