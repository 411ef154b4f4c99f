import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { CONSOLE_CSP, registerConsole } from './console.static';

describe('registerConsole', () => {
  let base: string;
  let root: string;
  let fastify: FastifyInstance;

  beforeEach(() => {
    // The build sits in a folder beside a file it must never serve.
    base = mkdtempSync(join(tmpdir(), 'tb-console-assets-'));
    root = join(base, 'console-assets');
    mkdirSync(root);
    writeFileSync(join(base, 'outside.txt'), 'not-for-the-browser');
    fastify = Fastify();
  });
  afterEach(async () => {
    await fastify.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('serves the build with the strict CSP: index.html revalidated, hashed assets cached for good', async () => {
    mkdirSync(join(root, 'assets'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>console</title>');
    writeFileSync(join(root, 'assets', 'index-abc123.js'), 'export {};');
    registerConsole(fastify, root);

    const index = await fastify.inject({ method: 'GET', url: '/console/' });
    expect(index.statusCode).toBe(200);
    expect(index.body).toContain('<title>console</title>');
    expect(index.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(index.headers['cache-control']).toBe('no-cache');

    const asset = await fastify.inject({ method: 'GET', url: '/console/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');

    const bare = await fastify.inject({ method: 'GET', url: '/console' });
    expect(bare.statusCode).toBe(301);
    expect(bare.headers.location).toBe('/console/');
    for (const url of ['/console/../outside.txt', '/console/%2e%2e/outside.txt', '/console/..%2foutside.txt']) {
      const escape = await fastify.inject({ method: 'GET', url });
      expect(escape.statusCode).toBeGreaterThanOrEqual(400);
      expect(escape.body).not.toContain('not-for-the-browser');
    }
  });

  it("without a build, says how to make one, in the contract's error shape", async () => {
    registerConsole(fastify, join(root, 'missing'));
    for (const url of ['/console', '/console/', '/console/assets/x.js']) {
      const answer = await fastify.inject({ method: 'GET', url });
      expect(answer.statusCode).toBe(404);
      expect(answer.json()).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: 'The console is not built: run `npm run build`, then start the broker again',
        code: 'not_found',
      });
      expect(answer.headers['content-security-policy']).toBe(CONSOLE_CSP);
    }
  });
});
