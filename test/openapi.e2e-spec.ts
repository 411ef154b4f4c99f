import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, type TestBroker } from './support/broker';

/** openapi.json at the repository root is what /docs-json serves: `npm run openapi` writes it. */
describe('openapi.json', () => {
  let broker: TestBroker;

  beforeAll(async () => {
    broker = await startBroker({ store: 'memory' });
  });
  afterAll(async () => {
    await broker.close();
  });

  it('is the document the running broker serves at /docs-json (run `npm run openapi` after changing a route)', async () => {
    const served = await broker.http().get('/docs-json');
    expect(served.status).toBe(200);
    const committed = readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8');
    expect(JSON.parse(committed)).toEqual(served.body);
    expect(committed).toBe(`${JSON.stringify(served.body, null, 2)}\n`);
  });

  it('describes every route the broker answers, but its own docs and static pages', () => {
    const document = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8'));
    const documented = Object.entries(document.paths as Record<string, object>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const registered = registeredRoutes(broker.app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false }))
      .filter((route) => !/^\S+ \/(docs|console)(\/|-|\*|$)/.test(route))
      .map((route) => route.replace(/:(\w+)/g, '{$1}'));
    expect(registered.length).toBeGreaterThan(10);
    expect(documented.sort()).toEqual(registered.sort());
  });
});

/** "METHOD /path" for every route in Fastify's printRoutes() tree (HEAD, added by Fastify for each GET, left out). */
function registeredRoutes(tree: string): string[] {
  const parents: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (match === null) continue;
    const depth = match[1].length / 4;
    const path = (parents[depth - 1] ?? '') + match[2];
    parents[depth] = path;
    parents.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ')) {
      if (method !== '' && method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes;
}
