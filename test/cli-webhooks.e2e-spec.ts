import { ADMIN_KEY, eventually, randomSecret } from './support/broker';
import { CliRunner, startCliBroker, type CliBroker } from './support/cli-runner';
import { WebhookReceiver } from './support/webhook-receiver';

/**
 * `token-broker webhooks`, the built binary run as a process against a
 * broker process on Redis and a real receiver: create (the secret shown once,
 * on stdout only, and it verifies what arrives), list, test, deliveries with
 * paging, rm; and their failures: exit 1 with the broker's message for a bad
 * key, an unknown id, a URL the allowlist refuses; exit 2 for usage errors.
 */

jest.setTimeout(120_000);

const UNKNOWN_ID = 'wh_000000000000000000000000';

describe('token-broker webhooks against a broker process', () => {
  let receiver: WebhookReceiver;
  let cliBroker: CliBroker;
  let baseUrl: string;
  let dir: string;
  const cli = new CliRunner(
    () => baseUrl,
    () => dir,
  );
  const secrets: string[] = [ADMIN_KEY];
  /** The whsec_ secrets of every webhook created. */
  const hookSecrets: string[] = [];

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    cliBroker = await startCliBroker('cliwh', {
      // Loopback receivers over plain http, as test/webhooks.e2e-spec.ts allows them; any other host is refused.
      WEBHOOK_URL_ALLOWLIST: 'http://127.0.0.1',
      WEBHOOK_RETRY_SECONDS: '1,1',
      WEBHOOK_TIMEOUT_MS: '1000',
    });
    ({ baseUrl, dir } = cliBroker);
  });
  afterAll(async () => {
    await cliBroker?.stop();
    await receiver?.stop();
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.mode = { status: 204 };
  });

  async function createHook(args: string[] = []): Promise<{ id: string; secret: string }> {
    const run = await cli.run(['webhooks', 'create', '--url', receiver.url, '--events', '*', ...args, '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const body = JSON.parse(run.stdout);
    hookSecrets.push(body.secret);
    return body;
  }

  it('create prints the secret once, on stdout; list never shows it; test delivers an event it verifies', async () => {
    const human = await cli.run([
      'webhooks',
      'create',
      '--url',
      receiver.url,
      '--events',
      'client.failing,client.rejected',
      '--workspaces',
      'o_cli_a,o_cli_b',
    ]);
    expect(human.code).toBe(0);
    expect(human.stderr).toBe('');
    const secret = /^secret:\s+(\S+)$/m.exec(human.stdout)?.[1] ?? '';
    const id = /^id:\s+(\S+)$/m.exec(human.stdout)?.[1] ?? '';
    hookSecrets.push(secret);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(human.stdout.split(secret)).toHaveLength(2);
    expect(human.stdout).toMatch(/^events:\s+client\.failing,client\.rejected$/m);
    expect(human.stdout).toMatch(/^workspaces:\s+o_cli_a,o_cli_b$/m);
    expect(human.stdout).toContain('shown only this once');

    const json = await createHook();
    expect(json).toMatchObject({ id: expect.any(String), url: receiver.url, events: ['*'], workspaces: ['*'] });

    const listed = await cli.run(['webhooks', 'list', '--json']);
    expect(listed.code).toBe(0);
    const items = JSON.parse(listed.stdout) as { id: string; secret?: string }[];
    expect(items.map((hook) => hook.id)).toEqual(expect.arrayContaining([id, json.id]));
    expect(items.every((hook) => hook.secret === undefined)).toBe(true);
    const table = await cli.run(['webhooks', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+URL\s+EVENTS\s+WORKSPACES\s+CREATED$/);
    expect(table.stdout).toMatch(
      new RegExp(`^${id}\\s+\\S+\\s+client\\.failing,client\\.rejected\\s+o_cli_a,o_cli_b\\s`, 'm'),
    );
    for (const run of [listed, table]) {
      expect(run.stdout).not.toContain(secret);
      expect(run.stdout).not.toContain(json.secret);
    }

    const tested = await cli.run(['webhooks', 'test', json.id]);
    expect(tested).toEqual({ code: 0, stdout: '', stderr: `Queued a webhook.test event for webhook ${json.id}.\n` });
    await eventually(() => receiver.received.length >= 1, 15_000);
    expect(receiver.verifyAll(json.secret)).toEqual([expect.objectContaining({ type: 'webhook.test' })]);

    await eventually(async () => {
      const page = JSON.parse((await cli.run(['webhooks', 'deliveries', json.id, '--json'])).stdout);
      return page.items[0]?.state === 'delivered';
    }, 15_000);
    const deliveries = await cli.run(['webhooks', 'deliveries', json.id]);
    expect(deliveries.code).toBe(0);
    expect(deliveries.stdout).toMatch(
      /^ID\s+EVENT\s+TYPE\s+STATE\s+ATTEMPTS\s+LAST STATUS\s+LAST ATTEMPT\s+NEXT ATTEMPT\n\S+\s+evt_test_\S+\s+webhook\.test\s+delivered\s+1\s+204\s+\S+\s+-\n$/,
    );

    for (const hook of [id, json.id]) expect((await cli.run(['webhooks', 'rm', hook, '--yes'])).code).toBe(0);
  });

  it('deliveries pages with --limit and --cursor, newest first; a failing receiver shows failed attempts', async () => {
    const hook = await createHook();
    receiver.mode = { status: 500 };
    for (let sent = 0; sent < 3; sent += 1) expect((await cli.run(['webhooks', 'test', hook.id])).code).toBe(0);
    const page = async (args: string[]) => {
      const run = await cli.run(['webhooks', 'deliveries', hook.id, ...args, '--json']);
      expect(run.code).toBe(0);
      return JSON.parse(run.stdout) as {
        items: { id: string; state: string; lastStatus: number }[];
        nextCursor: string;
      };
    };
    // Two retries one second apart, then failed.
    await eventually(
      async () => {
        const all = await page([]);
        return all.items.length === 3 && all.items.every((item) => item.state === 'failed');
      },
      20_000,
      250,
    );
    const all = await page([]);
    const first = await page(['--limit', '2']);
    expect(first.items.map((item) => item.id)).toEqual(all.items.slice(0, 2).map((item) => item.id));
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await page(['--limit', '2', '--cursor', first.nextCursor]);
    expect(second).toEqual({ items: [all.items[2]], nextCursor: null });
    expect(all.items.every((item) => item.lastStatus === 500)).toBe(true);

    const human = await cli.run(['webhooks', 'deliveries', hook.id, '--limit', '1']);
    expect(human.stdout).toMatch(/\s+webhook\.test\s+failed\s+3\s+500\s/);
    expect(human.stdout).toMatch(/\n\nnext cursor: \S+\n$/);
    expect((await cli.run(['webhooks', 'rm', hook.id, '--yes'])).code).toBe(0);
  });

  it('rm asks unless --yes; an unknown id is exit 1 with the broker message for rm, test and deliveries', async () => {
    const hook = await createHook();
    expect(await cli.run(['webhooks', 'rm', hook.id])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'token-broker: Not a terminal: add --yes to delete without asking\n',
    });
    expect(
      JSON.parse((await cli.run(['webhooks', 'list', '--json'])).stdout).map((h: { id: string }) => h.id),
    ).toContain(hook.id);
    expect(await cli.run(['webhooks', 'rm', hook.id, '--yes'])).toEqual({
      code: 0,
      stdout: '',
      stderr: `Deleted webhook ${hook.id}.\n`,
    });
    expect(
      JSON.parse((await cli.run(['webhooks', 'list', '--json'])).stdout).map((h: { id: string }) => h.id),
    ).not.toContain(hook.id);
    for (const args of [
      ['webhooks', 'rm', hook.id, '--yes'],
      ['webhooks', 'test', hook.id],
      ['webhooks', 'deliveries', hook.id],
      ['webhooks', 'test', UNKNOWN_ID],
    ]) {
      expect({ args, run: await cli.run(args) }).toEqual({
        args,
        run: { code: 1, stdout: '', stderr: 'token-broker: Webhook not found (not_found, HTTP 404)\n' },
      });
    }
  });

  it('a URL the broker refuses, and a bad key, are exit 1 with the message; usage errors are exit 2', async () => {
    for (const url of ['https://hooks.example.com/x', 'ftp://127.0.0.1/x']) {
      const refused = await cli.run(['webhooks', 'create', '--url', url, '--events', '*']);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(/^token-broker: .*url.*\(bad_request, HTTP 400\)\n$/);
    }
    const badKey = randomSecret('not_a_key');
    secrets.push(badKey);
    for (const args of [
      ['webhooks', 'list'],
      ['webhooks', 'create', '--url', receiver.url, '--events', '*'],
      ['webhooks', 'test', UNKNOWN_ID],
    ]) {
      const run = await cli.run(args, { key: badKey });
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 1, stdout: '' });
      expect(run.stderr).toMatch(/\(unauthorized, HTTP 401\)\n$/);
    }
    for (const args of [
      ['webhooks'],
      ['webhooks', 'bogus'],
      ['webhooks', 'create', '--events', '*'],
      ['webhooks', 'create', '--url', receiver.url],
      ['webhooks', 'create', '--url', receiver.url, '--events', 'client.sleepy'],
      ['webhooks', 'create', '--url', receiver.url, '--events', ','],
      ['webhooks', 'create', '--url', receiver.url, '--events', '*', '--workspaces', ','],
      ['webhooks', 'rm'],
      ['webhooks', 'deliveries', UNKNOWN_ID, '--limit', '0'],
      ['webhooks', 'deliveries', UNKNOWN_ID, '--limit', '501'],
      ['webhooks', 'test'],
    ]) {
      const run = await cli.run(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).not.toBe('');
    }
    expect((await cli.run(['webhooks', 'list'], { key: '' })).code).toBe(2);
  });

  it('never had a secret in its arguments, and printed each webhook secret only in the create that made it', () => {
    expect(cli.argvs.length).toBeGreaterThan(20);
    const args = cli.argvs.flat().join('\n');
    for (const secret of [...secrets, ...hookSecrets])
      expect({ secret, inArgs: args.includes(secret) }).toEqual({ secret, inArgs: false });
    const printed = cli.outputs.join('\n');
    for (const secret of secrets)
      expect({ secret, printed: printed.includes(secret) }).toEqual({ secret, printed: false });
    expect(hookSecrets.length).toBeGreaterThanOrEqual(4);
    for (const secret of hookSecrets) {
      // Exactly one output (a create's stdout) holds it, once.
      expect({ secret, times: printed.split(secret).length - 1 }).toEqual({ secret, times: 1 });
    }
  });
});
