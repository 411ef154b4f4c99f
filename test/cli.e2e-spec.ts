import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakePipedream } from './support/fake-pipedream';
import { ADMIN_KEY, eventually, randomSecret } from './support/broker';
import { waitForOutput } from './support/broker-process';
import { startCliBroker, type CliBroker } from './support/cli-runner';

/**
 * The built `token-broker` binary, run as a process against a real broker
 * process on Redis and the fake upstream: every command's success and
 * failure, exit codes, and secrets kept out of its arguments and output.
 */

const CLI_JS = join(__dirname, '..', 'dist', 'cli', 'token-broker.js');
const WS = 'o_cli';

jest.setTimeout(180_000);

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('token-broker CLI against a broker process', () => {
  let upstream: FakePipedream;
  let cliBroker: CliBroker;
  let baseUrl: string;
  let dir: string;
  /** Every argv the test gave the CLI, and everything it printed: checked for secrets at the end. */
  const argvs: string[][] = [];
  const outputs: string[] = [];
  const secrets: string[] = [ADMIN_KEY];

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run \`npm run build\` (npm test does it first)`);
    upstream = await FakePipedream.start({ expiresIn: 3600 });
    cliBroker = await startCliBroker('cli', {
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: upstream.tokenUrl,
      PIPEDREAM_API_BASE: upstream.baseUrl,
    });
    ({ baseUrl, dir } = cliBroker);
  });
  afterAll(async () => {
    await cliBroker?.stop();
    await upstream?.stop();
  });

  function start(args: string[], options: { key?: string; input?: string } = {}): ChildProcess {
    argvs.push(args);
    const child = spawn(process.execPath, [CLI_JS, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        TOKEN_BROKER_URL: baseUrl,
        TOKEN_BROKER_ADMIN_KEY: options.key ?? ADMIN_KEY,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin?.end(options.input ?? '');
    return child;
  }

  function finished(child: ChildProcess): Promise<CliRun> {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    return new Promise((resolve) =>
      child.once('close', (code) => {
        outputs.push(stdout, stderr);
        resolve({ code, stdout, stderr });
      }),
    );
  }

  const cli = (args: string[], options: { key?: string; input?: string } = {}) => finished(start(args, options));

  function secretFile(secret: string): string {
    const path = join(dir, `secret-${randomSecret('f')}`);
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    return path;
  }

  async function addOAuth(): Promise<{ id: string; clientId: string; clientSecret: string }> {
    const clientId = `pd_${randomSecret('cli')}`;
    const clientSecret = randomSecret();
    secrets.push(clientSecret);
    upstream.addClient(clientId, clientSecret);
    const run = await cli([
      'clients',
      'add',
      '--workspace',
      WS,
      '--name',
      'CLI',
      '--client-id',
      clientId,
      '--secret-file',
      secretFile(clientSecret),
      '--json',
    ]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    return { id: JSON.parse(run.stdout).id, clientId, clientSecret };
  }

  it('clients add, get, list, update: tables for people, --json for scripts', async () => {
    const added = await addOAuth();
    const apiKey = randomSecret('pd_key');
    secrets.push(apiKey);
    upstream.addApiKey(apiKey);
    const keyRun = await cli(
      ['clients', 'add', '--workspace', WS, '--name', 'Key', '--type', 'api_key', '--secret-stdin'],
      { input: apiKey },
    );
    expect(keyRun.code).toBe(0);
    expect(keyRun.stdout).toMatch(/^type:\s+api_key$/m);
    expect(keyRun.stdout).toContain(`...${apiKey.slice(-4)}`);

    const got = await cli(['clients', 'get', added.id, '--json']);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: added.id, clientId: added.clientId, workspaceId: WS });
    await eventually(
      async () => JSON.parse((await cli(['clients', 'get', added.id, '--json'])).stdout).status.state === 'ready',
      20_000,
      200,
    );

    const table = await cli(['clients', 'list', '--workspace', WS]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+WORKSPACE\s+NAME\s+TYPE\s+CLIENT ID\s+STATE\s+TOKEN EXPIRES$/);
    expect(table.stdout).toMatch(
      new RegExp(`^${added.id}\\s+${WS}\\s+CLI\\s+oauth_client_credentials\\s+${added.clientId}\\s+ready\\s`, 'm'),
    );
    const ready = JSON.parse((await cli(['clients', 'list', '--workspace', WS, '--state', 'ready', '--json'])).stdout);
    expect(ready.map((c: { id: string }) => c.id)).toContain(added.id);
    expect(ready.every((c: { status: { state: string } }) => c.status.state === 'ready')).toBe(true);
    expect(JSON.parse((await cli(['clients', 'list', '--limit', '1', '--json'])).stdout)).toHaveLength(1);

    // The human view shows the provider settings of an OAuth client; an api_key client has none.
    const human = await cli(['clients', 'get', added.id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /^request format:\s+json\nauth method:\s+client_secret_post\nextra params:\s+-\ndefault expires in:\s+3600 s\nsecret hint:\s+\.\.\.\w{4}\nstate:\s+ready\n/m,
    );
    expect(human.stdout).toMatch(/^last served:\s+/m);
    expect(keyRun.stdout).not.toMatch(/^(auth method|extra params|default expires in):/m);

    const updated = await cli(['clients', 'update', added.id, '--name', 'Renamed', '--json']);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout).name).toBe('Renamed');
  });

  it('rotates from stdin; a refused secret is exit 1 with the broker message, and the old one stays', async () => {
    const added = await addOAuth();
    const fresh = randomSecret('rotated');
    secrets.push(fresh);
    upstream.addClient(added.clientId, fresh);
    const rotated = await cli(['clients', 'rotate', added.id, '--secret-stdin', '--json'], { input: `${fresh}\n` });
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout).secretHint).toBe(fresh.slice(-4));

    const wrong = randomSecret('wrong');
    secrets.push(wrong);
    const refused = await cli(['clients', 'rotate', added.id, '--secret-file', secretFile(wrong)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^token-broker: The upstream refused the new credentials.*\(credentials_rejected, HTTP 422\)\n$/,
    );
    expect(refused.stdout).toBe('');
  });

  it('rm asks unless --yes, refuses without a terminal, and an unknown id is exit 1', async () => {
    const added = await addOAuth();
    const noTty = await cli(['clients', 'rm', added.id]);
    expect(noTty).toEqual({
      code: 2,
      stdout: '',
      stderr: 'token-broker: Not a terminal: add --yes to delete without asking\n',
    });
    expect((await cli(['clients', 'get', added.id])).code).toBe(0);
    expect(await cli(['clients', 'rm', added.id, '--yes'])).toEqual({
      code: 0,
      stdout: '',
      stderr: `Deleted client ${added.id}.\n`,
    });
    const gone = await cli(['clients', 'get', added.id]);
    expect(gone).toEqual({ code: 1, stdout: '', stderr: 'token-broker: Client not found (not_found, HTTP 404)\n' });
    expect((await cli(['clients', 'rm', added.id, '--yes'])).code).toBe(1);
    expect((await cli(['clients', 'update', 'cl_000000000000000000000000', '--name', 'x'])).code).toBe(1);
  });

  /** The CLI on a pseudo-terminal (util-linux `script`), typing `keys` once the prompt shows `waitFor`. */
  async function onTerminal(args: string[], waitFor: RegExp, keys: string): Promise<CliRun> {
    const command = [process.execPath, CLI_JS, ...args].map((word) => `'${word}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', TERM: 'dumb', TOKEN_BROKER_URL: baseUrl, TOKEN_BROKER_ADMIN_KEY: ADMIN_KEY },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    argvs.push(args);
    let seen = '';
    child.stdout?.on('data', (chunk) => (seen += chunk));
    const run = finished(child);
    try {
      await waitForOutput(() => seen, waitFor);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    child.stdin?.end(keys);
    return run;
  }

  // util-linux `script` gives the CLI a pseudo-terminal (Debian's bsdutils; the pretest step installs it when missing).
  it('on a terminal: asks for the secret without echoing it, and asks before rm', async () => {
    const added = await addOAuth();
    const typed = randomSecret('typed');
    secrets.push(typed);
    upstream.addClient(added.clientId, typed);
    const rotated = await onTerminal(['clients', 'rotate', added.id], /new client secret:/, `${typed}\r`);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain(`...${typed.slice(-4)}`);
    expect(rotated.stdout).not.toContain(typed);

    const kept = await onTerminal(['clients', 'rm', added.id], /Delete client/, 'n\r');
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain('Nothing deleted.');
    expect((await cli(['clients', 'get', added.id])).code).toBe(0);
    const removed = await onTerminal(['clients', 'rm', added.id], /Delete client/, 'y\r');
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`Deleted client ${added.id}.`);
    expect((await cli(['clients', 'get', added.id])).code).toBe(1);
  });

  it("exit 2 for usage errors, commander's own included, and 1 for a bad key", async () => {
    for (const args of [
      [],
      ['clients'],
      ['clients', 'bogus'],
      ['clients', 'list', '--limit', 'x'],
      ['clients', 'list', '--state', 'sleepy'],
      ['clients', 'add', '--name', 'No workspace', '--secret-stdin'],
      ['clients', 'add', '--workspace', WS, '--name', 'No secret source'],
      ['clients', 'update', 'cl_000000000000000000000000'],
      ['clients', 'rotate', 'x', '--secret-file', join(dir, 'missing')],
      ['clients', 'import', join(dir, 'clients.txt')],
      ['service-keys', 'create', '--name', 'x'],
      ['audit', '--limit', '0'],
      ['--bogus'],
    ]) {
      const run = await cli(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).not.toBe('');
    }
    const badKey = await cli(['clients', 'list'], { key: randomSecret('not_a_key') });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/\(unauthorized, HTTP 401\)\n$/);
    expect((await cli(['status'], { key: '' })).code).toBe(2);
    expect((await cli(['--help'])).code).toBe(0);
  });

  it('service-keys create prints the key once on stdout; list never shows it; rm deletes', async () => {
    const created = await cli([
      'service-keys',
      'create',
      '--name',
      'billing',
      '--workspaces',
      `${WS},o_other`,
      '--json',
    ]);
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout);
    expect(body).toMatchObject({
      id: expect.any(String),
      name: 'billing',
      workspaces: [WS, 'o_other'],
      key: expect.any(String),
    });
    expect(created.stderr).not.toContain(body.key);
    const human = await cli(['service-keys', 'create', '--name', 'people', '--workspaces', '*']);
    expect(human.code).toBe(0);
    const humanKey = /^key:\s+(\S+)$/m.exec(human.stdout)?.[1] ?? '';
    expect(humanKey.length).toBeGreaterThan(20);
    expect(human.stdout.split(humanKey)).toHaveLength(2);

    const listed = await cli(['service-keys', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((k: { id: string }) => k.id)).toContain(body.id);
    expect(listed.stdout).not.toContain(body.key);
    expect((await cli(['service-keys', 'list'])).stdout).toMatch(
      new RegExp(`^${body.id}\\s+billing\\s+${WS},o_other\\s`, 'm'),
    );
    expect((await cli(['service-keys', 'rm', body.id, '--yes'])).code).toBe(0);
    expect((await cli(['service-keys', 'rm', body.id, '--yes'])).code).toBe(1);
    // The key works only for token routes: it is no admin key for the CLI.
    expect((await cli(['clients', 'list'], { key: humanKey })).stderr).toMatch(/\(forbidden, HTTP 403\)/);
  });

  it("audit lists a client's events, and --follow prints new ones as they happen", async () => {
    const added = await addOAuth();
    const listed = await cli(['audit', '--client', added.id, '--json']);
    expect(listed.code).toBe(0);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).action),
    ).toEqual(['client.create']);
    expect((await cli(['audit', '--client', added.id])).stdout).toMatch(
      /^AT\s+ACTOR\s+ACTION\s+CLIENT\s+WORKSPACE\n.*client\.create/,
    );

    const follower = start(['audit', '--client', added.id, '--follow', '--interval', '200', '--json']);
    let seen = '';
    follower.stdout?.on('data', (chunk) => (seen += chunk));
    await waitForOutput(() => seen, /client\.create/);
    expect((await cli(['clients', 'update', added.id, '--name', 'Followed'])).code).toBe(0);
    expect((await cli(['clients', 'rm', added.id, '--yes'])).code).toBe(0);
    await waitForOutput(() => seen, /client\.delete/);
    follower.kill('SIGTERM');
    outputs.push(seen);
    expect(
      seen
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).action),
    ).toEqual(['client.create', 'client.update', 'client.delete']);
    expect((await cli(['audit', '--client', 'cl_000000000000000000000000', '--json'])).stdout).toBe('');
  });

  /** Secrets of imported lines all start with this, so that every output can be searched for any of them at once. */
  const IMPORT_SECRET_PREFIX = 'impsecret_';
  const importSecret = () => `${IMPORT_SECRET_PREFIX}${randomSecret('s')}`;
  const oauthLine = (workspaceId: string, clientId = `pd_${randomSecret('imp')}`) => ({
    workspaceId,
    name: `Imported ${clientId.slice(-6)}`,
    type: 'oauth_client_credentials',
    clientId,
    clientSecret: importSecret(),
  });

  it('imports JSON Lines: bad lines are reported with their line and reason, never quoting a secret', async () => {
    const ws = 'o_cli_lines';
    const first = oauthLine(ws);
    const lines = [
      JSON.stringify(first),
      `{"workspaceId":"${ws}","clientSecret":"${importSecret()}"`,
      '[1, 2]',
      JSON.stringify({ ...oauthLine(ws), name: undefined }),
      JSON.stringify({ ...oauthLine(ws), clientId: first.clientId }),
      '',
      JSON.stringify({ ...oauthLine(ws), tokenUrl: 'https://evil.example/t' }),
    ];
    const file = join(dir, 'clients.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const run = await cli(['clients', 'import', file, '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      total: 6,
      registered: 1,
      alreadyThere: 1,
      failed: 4,
      failuresFile: `${file}.failed.jsonl`,
    });
    const failures = readFileSync(`${file}.failed.jsonl`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(failures.map(({ line, status, code }) => [line, status, code])).toEqual([
      [2, 0, 'bad_line'],
      [3, 0, 'bad_line'],
      [4, 400, 'bad_request'],
      [7, 400, 'bad_request'],
    ]);
    expect(failures.map((f) => f.reason)).toEqual([
      'not valid JSON',
      'not a JSON object',
      expect.stringMatching(/name/),
      expect.stringMatching(/tokenUrl/),
    ]);
    for (const failure of failures) {
      expect(failure.input).toBe(lines[failure.line - 1]);
      expect(failure.reason).not.toContain(IMPORT_SECRET_PREFIX);
    }
  });

  it('imports CSV with quoted commas, quotes and multi-line (PEM) fields; short rows are reported', async () => {
    const ws = 'o_cli_csv';
    // A real PKCS#8 key: PEM text is the one kind of field where line breaks belong (privateKey, private_key_jwt).
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = String(privateKey.export({ type: 'pkcs8', format: 'pem' })).trim();
    const csv = [
      'workspaceId,name,type,clientId,clientSecret,scope,tokenEndpointAuthMethod,privateKey',
      `${ws},"Acme, Inc.",oauth_client_credentials,pd_csv_${randomSecret('a')},${importSecret()},,,`,
      `${ws},"Quoted ""name""",oauth_client_credentials,pd_csv_${randomSecret('b')},,read,private_key_jwt,"${pem}"`,
      `${ws},Short row,oauth_client_credentials`,
      `${ws},Key,api_key,,${importSecret()},,,`,
    ];
    const file = join(dir, 'clients.csv');
    writeFileSync(file, `${csv.join('\r\n')}\r\n`);
    const run = await cli(['clients', 'import', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      `lines:         4\nregistered:    2\nalready there: 0\nfailed:        2\nfailures file: ${file}.failed.jsonl\n`,
    );
    const failures = readFileSync(`${file}.failed.jsonl`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(failures.map(({ line, code, reason }) => [line, code, reason])).toEqual([
      [8, 'bad_line', 'has 3 fields, the header 8'],
      [9, 'bad_request', expect.stringMatching(/^Invalid apiKey \(apiKey: .*required for api_key clients/)],
    ]);
    for (const failure of failures) expect(failure.reason).not.toContain(IMPORT_SECRET_PREFIX);
    const names = JSON.parse((await cli(['clients', 'list', '--workspace', ws, '--json'])).stdout).map(
      (c: { name: string }) => c.name,
    );
    expect(names.sort()).toEqual(['Acme, Inc.', 'Quoted "name"']);
  });

  it('imports 10,000 lines, killed halfway and run again: every client registered exactly once', async () => {
    const ws = 'o_cli_bulk';
    const records = Array.from({ length: 10_000 }, (_, i) => oauthLine(ws, `pd_bulk_${i}_${randomSecret('c')}`));
    const file = join(dir, 'bulk.jsonl');
    writeFileSync(file, `${records.map((record) => JSON.stringify(record)).join('\n')}\n`);
    const count = async () => {
      const res = await fetch(`${baseUrl}/health/tokens`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      return ((await res.json()) as { total: number }).total;
    };
    const before = await count();

    const startedAt = Date.now();
    const interrupted = start(['clients', 'import', file]);
    const ended = finished(interrupted);
    await eventually(async () => (await count()) - before >= 2_500, 120_000, 50);
    expect(interrupted.pid).toEqual(expect.any(Number));
    process.kill(interrupted.pid ?? -1, 'SIGKILL');
    expect((await ended).code).toBeNull();
    const storedBeforeKill = (await count()) - before;
    expect(storedBeforeKill).toBeLessThan(10_000);

    const rerun = await cli(['clients', 'import', file, '--json']);
    const elapsedMs = Date.now() - startedAt;
    expect(rerun.code).toBe(0);
    const summary = JSON.parse(rerun.stdout);
    expect(summary).toEqual({
      total: 10_000,
      registered: expect.any(Number),
      alreadyThere: expect.any(Number),
      failed: 0,
      failuresFile: null,
    });
    expect(summary.registered + summary.alreadyThere).toBe(10_000);
    expect(summary.alreadyThere).toBeGreaterThanOrEqual(2_500);
    expect(existsSync(`${file}.failed.jsonl`)).toBe(false);
    process.stdout.write(
      `cli import: 10,000 lines in ${elapsedMs} ms, the kill and the rerun included (${storedBeforeKill} stored before the kill)\n`,
    );

    const listed = await cli(['clients', 'list', '--workspace', ws, '--json']);
    expect(listed.code).toBe(0);
    const byClientId = new Map<string, number>();
    for (const client of JSON.parse(listed.stdout) as { clientId: string }[])
      byClientId.set(client.clientId, (byClientId.get(client.clientId) ?? 0) + 1);
    expect(byClientId.size).toBe(10_000);
    expect([...byClientId.values()].every((n) => n === 1)).toBe(true);
    expect(records.every((record) => byClientId.get(record.clientId) === 1)).toBe(true);
    expect((await count()) - before).toBe(10_000);

    const third = await cli(['clients', 'import', file, '--json']);
    expect(JSON.parse(third.stdout)).toMatchObject({ registered: 0, alreadyThere: 10_000, failed: 0 });
  });

  it('health and status summarise the broker and its clients', async () => {
    const health = await cli(['health']);
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/^ready:\s+yes$/m);
    const status = await cli(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      total: expect.any(Number),
      byState: { ready: expect.any(Number) },
      failing: expect.any(Array),
    });
    const human = await cli(['status']);
    expect(human.stdout).toMatch(
      /^STATE\s+CLIENTS\npending\s+\d+\nready\s+\d+\nfailing\s+\d+\nrejected\s+\d+\ntotal\s+\d+\n\nnext refresh: /,
    );
  });

  it('never had a secret in its arguments, and never printed one', () => {
    expect(argvs.length).toBeGreaterThan(50);
    const args = argvs.flat().join('\n');
    const printed = outputs.join('\n');
    for (const secret of secrets) {
      expect({ secret, inArgs: args.includes(secret) }).toEqual({ secret, inArgs: false });
      expect({ secret, printed: printed.includes(secret) }).toEqual({ secret, printed: false });
    }
    expect(args).not.toContain(IMPORT_SECRET_PREFIX);
    expect(printed).not.toContain(IMPORT_SECRET_PREFIX);
  });
});
