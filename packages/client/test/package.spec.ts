import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PACKAGE_DIR = join(__dirname, '..');
const REPO_ROOT = join(PACKAGE_DIR, '..', '..');

function node(args: string[]): string {
  const run = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout.trim();
}

/** The package as it is published: built by its own build script, loaded by name from outside. */
describe('@token-broker/client as a package', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(PACKAGE_DIR, 'scripts', 'build.js')], { stdio: 'pipe' });
  }, 120_000);

  it('has no runtime dependency and needs Node 20.19 or newer', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8'));
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.engines).toEqual({ node: '>=20.19' });
    expect(manifest.peerDependenciesMeta['@nestjs/common']).toEqual({ optional: true });
  });

  it('loads with require (CommonJS) and with import (ES modules), the Nest module as a subpath', () => {
    const probe =
      'typeof c.TokenBrokerClient + typeof c.TokenBrokerError + typeof n.TokenBrokerModule + (n.TokenBrokerClient === c.TokenBrokerClient)';
    expect(
      node([
        '-e',
        `const c = require('@token-broker/client'); const n = require('@token-broker/client/nest'); console.log(${probe})`,
      ]),
    ).toBe('functionfunctionfunctiontrue');
    expect(
      node([
        '--input-type=module',
        '-e',
        `import * as c from '@token-broker/client'; import * as n from '@token-broker/client/nest'; console.log(${probe})`,
      ]),
    ).toBe('functionfunctionfunctiontrue');
  });

  it('ships declarations that a strict TypeScript consumer reads from both formats', () => {
    const dir = mkdtempSync(join(PACKAGE_DIR, '.typecheck-'));
    try {
      const consumer = `
        const client = new TokenBrokerClient({ baseUrl: 'http://broker:3000', serviceKey: 'k', minTtlSeconds: 60 });
        export const token: Promise<string> = client.getToken('c');
        export const info = client.getTokenInfo('c').then((i) => i.expiresAt?.toISOString() ?? i.accessToken);
        export const provider: { getToken(): Promise<string> } = client.tokenProvider('c');
        export const code = (e: unknown): string | null => (e instanceof TokenBrokerError ? e.code : null);
        export const nest = TokenBrokerModule.forRoot({ baseUrl: 'http://broker:3000', serviceKey: 'k', isGlobal: true });
      `;
      writeFileSync(
        join(dir, 'esm.mts'),
        `import { TokenBrokerClient, TokenBrokerError } from '@token-broker/client';\nimport { TokenBrokerModule } from '@token-broker/client/nest';\n${consumer}`,
      );
      writeFileSync(
        join(dir, 'cjs.cts'),
        `import { TokenBrokerClient, TokenBrokerError } from '@token-broker/client';\nimport { TokenBrokerModule } from '@token-broker/client/nest';\n${consumer}`,
      );
      const tsc = require.resolve('typescript/bin/tsc');
      const args = [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        '--skipLibCheck',
        'false',
      ];
      const run = spawnSync(process.execPath, [...args, join(dir, 'esm.mts'), join(dir, 'cjs.cts')], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(run.stdout + run.stderr).toBe('');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
