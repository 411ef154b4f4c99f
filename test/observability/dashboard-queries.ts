/** The parts of a Grafana dashboard JSON the tests read. */
export interface Dashboard {
  uid: string;
  schemaVersion: number;
  templating: { list: { name: string; type: string; [field: string]: unknown }[] };
  panels: {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    targets?: { expr: string }[];
  }[];
}

export interface DashboardQuery {
  panel: string;
  expr: string;
}

export function dashboardQueries(dashboard: Dashboard): DashboardQuery[] {
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map(({ expr }) => ({ panel: panel.title, expr })));
}

/** A query as Grafana would send it for "All replicas" and a short range: the variables filled in. */
export function withVariables(expr: string, rateInterval: string): string {
  return expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', rateInterval);
}
