import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwkThumbprint } from '../src/client-auth/key-material';
import { ADMIN_KEY, eventually, randomSecret } from './support/broker';
import { CliRunner, startCliBroker, type CliBroker } from './support/cli-runner';
import {
  keyPairFor,
  serviceClient,
  startOidcProvider,
  type OidcProvider,
  type TestKeyPair,
} from './support/oidc-provider';

/**
 * The CLI's provider settings end to end: the built binary against a broker
 * process on Redis and a certified OpenID provider (panva/oidc-provider)
 * that verifies every client assertion. A private_key_jwt client is added
 * and rotated from PEM files (and stdin), with extra parameters and a
 * default lifetime; `clients get` shows the settings; `update` changes them;
 * `import` takes PEM-bearing JSON Lines and CSV extraParams. No PEM, secret
 * or key is ever in an argument, the output or an error message.
 */

jest.setTimeout(120_000);

const hintOf = (pair: TestKeyPair) => jwkThumbprint(pair.privateKey).slice(-4);
/** The base64 body of a PEM, without its armour: what would leak if a key were printed. */
const pemBody = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

describe('token-broker clients with private_key_jwt against oidc-provider', () => {
  const es1 = keyPairFor('ES256', 'es-1');
  const es2 = keyPairFor('ES256', 'es-2');
  const unknownEs = keyPairFor('ES256', 'es-unknown');
  const rsa = keyPairFor('RS256', 'rs-1');
  const ed = keyPairFor('EdDSA', 'ed-1');
  let provider: OidcProvider;
  let cliBroker: CliBroker;
  let baseUrl: string;
  let dir: string;
  const cli = new CliRunner(
    () => baseUrl,
    () => dir,
  );
  const pems = [es1, es2, unknownEs, rsa, ed].map((pair) => pair.pem);

  beforeAll(async () => {
    provider = await startOidcProvider([
      serviceClient({
        client_id: 'svc-ES256',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [es1.jwk, es2.jwk] },
      }),
      // PS256 only: an RS256 assertion from this client is refused.
      serviceClient({
        client_id: 'svc-PS256',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'PS256',
        jwks: { keys: [rsa.jwk] },
      }),
      serviceClient({
        client_id: 'svc-EdDSA',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [ed.jwk] },
      }),
    ]);
    cliBroker = await startCliBroker('clipk', {
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: provider.tokenUrl,
      MIN_TOKEN_TTL_SECONDS: '2',
      FORCE_REFRESH_MIN_INTERVAL_SECONDS: '1',
    });
    ({ baseUrl, dir } = cliBroker);
  });
  afterAll(async () => {
    await cliBroker?.stop();
    await provider?.stop();
  });

  const keyFile = (pair: TestKeyPair) => cli.file(pair.pem, 'key.pem');

  async function tokenOf(id: string): Promise<string> {
    return eventually(
      async () => {
        const res = await fetch(`${baseUrl}/v1/clients/${id}/token`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        });
        return res.status === 200 ? ((await res.json()) as { access_token: string }).access_token : null;
      },
      20_000,
      100,
    );
  }

  async function viewOf(id: string): Promise<Record<string, unknown> & { status: { state: string } }> {
    const run = await cli.run(['clients', 'get', id, '--json']);
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout);
  }

  async function addEs256(keyArgs: string[], input?: string): Promise<string> {
    const run = await cli.run(
      [
        'clients',
        'add',
        // One clientId per workspace: each test's client is in a workspace of its own.
        '--workspace',
        `o_cli_pk_${randomSecret('w').slice(-8)}`,
        '--name',
        'Signed',
        '--client-id',
        'svc-ES256',
        '--auth-method',
        'private_key_jwt',
        ...keyArgs,
        '--json',
      ],
      { input },
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(run.stdout).id;
  }

  it('adds a private_key_jwt client from a PEM file with a key id, extra parameters and a default lifetime; get shows them', async () => {
    const resource = 'https://api.example.com/orders';
    const run = await cli.run([
      'clients',
      'add',
      '--workspace',
      'o_cli_pk',
      '--name',
      'Ed',
      '--client-id',
      'svc-EdDSA',
      '--private-key-file',
      keyFile(ed),
      '--key-id',
      'ed-1',
      '--extra-param',
      `resource=${resource}`,
      '--extra-param',
      'team=blue=green',
      '--default-expires-in',
      '7200',
    ]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    // --auth-method is implied by a key file alone; private_key_jwt takes the form body.
    for (const [field, value] of [
      ['type', 'oauth_client_credentials'],
      ['request format', 'form'],
      ['auth method', 'private_key_jwt'],
      ['key id', 'ed-1'],
      ['signing alg', 'EdDSA'],
      ['extra params', `resource=${resource}, team=blue=green`],
      ['default expires in', '7200 s'],
      ['key hint', `...${hintOf(ed)}`],
    ])
      expect(run.stdout).toMatch(new RegExp(`^${field}:\\s+${value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    expect(run.stdout).not.toMatch(/^(secret hint|certificate expires):/m);
    const id = /^id:\s+(\S+)$/m.exec(run.stdout)?.[1] ?? '';
    expect(await provider.introspect(await tokenOf(id))).toMatchObject({
      active: true,
      client_id: 'svc-EdDSA',
      aud: resource,
    });
    expect(await viewOf(id)).toMatchObject({
      tokenEndpointAuthMethod: 'private_key_jwt',
      keyId: 'ed-1',
      signingAlg: 'EdDSA',
      extraParams: { resource, team: 'blue=green' },
      defaultExpiresInSeconds: 7200,
      certificateExpiresAt: null,
      status: { state: 'ready' },
    });
  });

  it('rotates to a new key from a file and from stdin; a key the provider does not know is exit 1 and the old key stays', async () => {
    const id = await addEs256(['--private-key-file', keyFile(es1), '--key-id', 'es-1']);
    const before = await tokenOf(id);

    const refused = await cli.run([
      'clients',
      'rotate',
      id,
      '--private-key-file',
      keyFile(unknownEs),
      '--key-id',
      'es-x',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^token-broker: .*\(credentials_rejected, HTTP 422\)\n$/);
    expect(await viewOf(id)).toMatchObject({ keyId: 'es-1', secretHint: hintOf(es1) });
    expect(await tokenOf(id)).toBe(before);

    const rotated = await cli.run(['clients', 'rotate', id, '--private-key-file', '-', '--key-id', 'es-2', '--json'], {
      input: es2.pem,
    });
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({
      secretHint: hintOf(es2),
      keyId: 'es-2',
      signingAlg: 'ES256',
      status: { state: 'ready' },
    });
    const after = await tokenOf(id);
    expect(after).not.toBe(before);
    expect(await provider.introspect(after)).toMatchObject({ active: true, client_id: 'svc-ES256' });

    // Back to the first key, from a file, unverified: no kid given, so assertions carry none.
    const unverified = await cli.run(['clients', 'rotate', id, '--private-key-file', keyFile(es1), '--no-verify']);
    expect(unverified.code).toBe(0);
    expect(unverified.stdout).toMatch(/^key id:\s+-$/m);
    expect(unverified.stdout).toMatch(new RegExp(`^key hint:\\s+\\.\\.\\.${hintOf(es1)}$`, 'm'));
    await eventually(async () => (await viewOf(id)).status.state === 'ready', 20_000, 200);
  });

  it('rotate refuses material of another method, and asks for the key file, as usage errors (exit 2)', async () => {
    const id = await addEs256(['--private-key-file', '-'], es1.pem);
    const secret = randomSecret('not_for_keys');
    for (const [args, message] of [
      [['--secret-file', cli.file(secret)], /uses private_key_jwt: give --private-key-file, not a secret/],
      [[], /uses private_key_jwt: give the new key with --private-key-file PATH/],
      [['--private-key-file', keyFile(es2), '--certificate-file', keyFile(es2)], /takes no certificate/],
      [['--private-key-file', join(dir, 'missing.pem')], /Cannot read the private key file .*missing\.pem \(ENOENT\)/],
      [['--private-key-file', cli.file('\n\n', 'empty.pem')], /The private key is empty/],
      [['--private-key-file', '-', '--secret-stdin'], /Standard input already gives the private key/],
    ] as const) {
      const run = await cli.run(['clients', 'rotate', id, ...args], { input: es2.pem });
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
    expect(await viewOf(id)).toMatchObject({ secretHint: hintOf(es1) });
    // A client-secret client is not given a key.
    const plain = await cli.run(
      ['clients', 'add', '--workspace', 'o_cli_pk', '--name', 'Plain', '--client-id', 'svc-plain', '--secret-stdin'],
      { input: secret },
    );
    const plainId = /^id:\s+(\S+)$/m.exec(plain.stdout)?.[1] ?? '';
    const wrongKind = await cli.run(['clients', 'rotate', plainId, '--private-key-file', keyFile(es2)]);
    expect(wrongKind.code).toBe(2);
    expect(wrongKind.stderr).toMatch(/uses client_secret_post: give the new client secret with --secret-file/);
    expect(
      (await cli.run(['clients', 'rotate', 'cl_000000000000000000000000', '--private-key-file', keyFile(es2)])).code,
    ).toBe(1);
  });

  it('add: usage errors for key options that do not fit; the broker refusing a key names the field, never the PEM', async () => {
    const base = ['clients', 'add', '--workspace', 'o_cli_pk', '--name', 'Bad', '--client-id', 'svc-ES256'];
    for (const [args, message] of [
      [['--auth-method', 'private_key_jwt'], /private_key_jwt needs --private-key-file/],
      [
        ['--auth-method', 'tls_client_auth', '--private-key-file', keyFile(es1)],
        /tls_client_auth needs --certificate-file/,
      ],
      [
        ['--auth-method', 'private_key_jwt', '--private-key-file', keyFile(es1), '--secret-stdin'],
        /have no client secret/,
      ],
      [
        ['--auth-method', 'client_secret_basic', '--private-key-file', keyFile(es1)],
        /take a client secret, not key files/,
      ],
      [['--type', 'api_key', '--private-key-file', keyFile(es1)], /api_key clients take an API key only/],
      [['--extra-param', 'audience'], /Expected name=value/],
      [['--extra-param', 'a=1', '--extra-param', 'a=2'], /a is given twice/],
      [['--default-expires-in', 'soon'], /Not a positive whole number/],
      [['--signing-alg', 'HS256'], /Allowed choices are RS256, PS256, ES256, EdDSA/],
      [['--auth-method', 'magic'], /Allowed choices are client_secret_post/],
    ] as const) {
      const run = await cli.run([...base, ...args]);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
    const broken = '-----BEGIN PRIVATE KEY-----\nAAAAnotakeyAAAA\n-----END PRIVATE KEY-----\n';
    for (const [args, field] of [
      [['--private-key-file', cli.file(broken, 'broken.pem')], 'privateKey'],
      [['--private-key-file', keyFile(es1), '--signing-alg', 'RS256'], 'signingAlg'],
      [['--private-key-file', keyFile(es1), '--format', 'json'], 'tokenEndpointAuthMethod'],
      [['--private-key-file', keyFile(es1), '--extra-param', 'client_assertion=x'], 'extraParams'],
      [['--private-key-file', keyFile(es1), '--default-expires-in', '59'], 'defaultExpiresInSeconds'],
    ] as const) {
      const run = await cli.run([...base, ...args]);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 1, stdout: '' });
      expect(run.stderr).toMatch(new RegExp(`\\(${field}: .*\\(bad_request, HTTP 400\\)\\n$`));
      expect(run.stderr).not.toContain('AAAAnotakeyAAAA');
    }
  });

  it('update changes the settings that are not secret, and clears them', async () => {
    const id = await addEs256(['--private-key-file', keyFile(es1), '--key-id', 'es-1']);
    const before = await tokenOf(id);
    const updated = await cli.run([
      'clients',
      'update',
      id,
      '--extra-param',
      'audience=https://a.example.com',
      '--default-expires-in',
      '600',
      '--clear-key-id',
      '--json',
    ]);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      extraParams: { audience: 'https://a.example.com' },
      defaultExpiresInSeconds: 600,
      keyId: null,
    });
    // A settings change drops the held token; the provider takes the assertion without a kid.
    await eventually(async () => (await tokenOf(id)) !== before, 20_000, 200);
    const cleared = await cli.run([
      'clients',
      'update',
      id,
      '--clear-extra-params',
      '--key-id',
      'es-1',
      '--signing-alg',
      'ES256',
    ]);
    expect(cleared.code).toBe(0);
    expect(cleared.stdout).toMatch(/^extra params:\s+-$/m);
    expect(cleared.stdout).toMatch(/^key id:\s+es-1$/m);
    const wrongAlg = await cli.run(['clients', 'update', id, '--signing-alg', 'PS256']);
    expect(wrongAlg.code).toBe(1);
    expect(wrongAlg.stderr).toMatch(/signingAlg: .*\(bad_request, HTTP 400\)/);
    expect((await cli.run(['clients', 'update', id, '--key-id', 'x', '--clear-key-id'])).code).toBe(2);
    expect((await cli.run(['clients', 'update', id])).code).toBe(2);
  });

  it('imports JSON Lines with PEM keys and extraParams, and CSV with extraParams columns and a default lifetime', async () => {
    const ws = 'o_cli_pk_import';
    const jsonl = join(dir, 'keys.jsonl');
    const lines = [
      {
        workspaceId: ws,
        name: 'L1',
        type: 'oauth_client_credentials',
        clientId: 'svc-ES256',
        tokenEndpointAuthMethod: 'private_key_jwt',
        privateKey: es2.pem,
        keyId: 'es-2',
        extraParams: { resource: 'https://api.example.com/l1' },
      },
      {
        workspaceId: ws,
        name: 'L2',
        type: 'oauth_client_credentials',
        clientId: 'svc-PS256',
        tokenEndpointAuthMethod: 'private_key_jwt',
        privateKey: rsa.pem,
        signingAlg: 'PS256',
        defaultExpiresInSeconds: 900,
      },
      {
        workspaceId: ws,
        name: 'L3',
        type: 'oauth_client_credentials',
        clientId: 'svc-EdDSA',
        tokenEndpointAuthMethod: 'private_key_jwt',
        privateKey: '-----BEGIN PRIVATE KEY-----\nAAAAnotakeyAAAA\n-----END PRIVATE KEY-----\n',
      },
    ];
    writeFileSync(jsonl, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`, { mode: 0o600 });
    const run = await cli.run(['clients', 'import', jsonl, '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      total: 3,
      registered: 2,
      alreadyThere: 0,
      failed: 1,
      failuresFile: `${jsonl}.failed.jsonl`,
    });
    const failures = readFileSync(`${jsonl}.failed.jsonl`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(failures.map(({ line, code }) => [line, code])).toEqual([[3, 'bad_request']]);
    expect(failures[0].reason).toMatch(/privateKey/);
    expect(failures[0].reason).not.toContain('AAAAnotakeyAAAA');

    const csv = join(dir, 'keys.csv');
    writeFileSync(
      csv,
      [
        'workspaceId,name,type,clientId,tokenEndpointAuthMethod,privateKey,keyId,extraParams.resource,defaultExpiresInSeconds',
        `${ws},C1,oauth_client_credentials,svc-EdDSA,private_key_jwt,"${ed.pem.trim()}",ed-1,https://api.example.com/c1,1800`,
      ].join('\n'),
      { mode: 0o600 },
    );
    const csvRun = await cli.run(['clients', 'import', csv, '--json']);
    expect(csvRun.code).toBe(0);
    expect(JSON.parse(csvRun.stdout)).toMatchObject({ registered: 1, failed: 0 });

    const listed = JSON.parse((await cli.run(['clients', 'list', '--workspace', ws, '--json'])).stdout) as {
      id: string;
      name: string;
    }[];
    const byName = new Map(listed.map((client) => [client.name, client.id]));
    expect([...byName.keys()].sort()).toEqual(['C1', 'L1', 'L2']);
    expect(await viewOf(byName.get('L1') ?? '')).toMatchObject({
      keyId: 'es-2',
      signingAlg: 'ES256',
      extraParams: { resource: 'https://api.example.com/l1' },
      secretHint: hintOf(es2),
    });
    expect(await viewOf(byName.get('L2') ?? '')).toMatchObject({ signingAlg: 'PS256', defaultExpiresInSeconds: 900 });
    expect(await viewOf(byName.get('C1') ?? '')).toMatchObject({
      keyId: 'ed-1',
      extraParams: { resource: 'https://api.example.com/c1' },
      defaultExpiresInSeconds: 1800,
    });
    // Each imported key obtains a token the provider verified.
    for (const [name, clientId, aud] of [
      ['L1', 'svc-ES256', 'https://api.example.com/l1'],
      ['L2', 'svc-PS256', undefined],
      ['C1', 'svc-EdDSA', 'https://api.example.com/c1'],
    ] as const) {
      const introspected = await provider.introspect(await tokenOf(byName.get(name) ?? ''));
      expect(introspected).toMatchObject({ active: true, client_id: clientId, ...(aud && { aud }) });
    }
  });

  it('never had a PEM in its arguments, and never printed one', () => {
    expect(cli.argvs.length).toBeGreaterThan(30);
    cli.expectNeverShown([ADMIN_KEY, ...pems.map(pemBody)]);
    const printed = cli.outputs.join('\n');
    expect(printed).not.toContain('PRIVATE KEY');
    expect(printed).not.toContain('AAAAnotakeyAAAA');
  });
});
