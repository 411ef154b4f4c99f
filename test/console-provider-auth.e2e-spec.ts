// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Page, Request } from 'playwright-core';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { keyHintOf } from '../src/client-auth/key-material';
import { ADMIN_KEY, eventually } from './support/broker';
import type { BrokerProcess } from './support/broker-process';
import {
  cspViolations,
  ensureConsoleBuilt,
  launchConsoleBrowser,
  recordCspViolations,
  screenshot,
  seriousAxeViolations,
  type ConsoleBrowser,
} from './support/console-browser';
import { keyPairFor, serviceClient, startOidcProvider, type OidcProvider } from './support/oidc-provider';
import { testRedisUrl, uniquePrefix } from './support/test-redis';
import { TestPki, type Issued } from './support/test-pki';
import {
  spawnBrokerTrusting,
  startHttpsWebhookReceiver,
  startMtlsTokenEndpoint,
  type TlsEndpoint,
} from './support/tls-endpoints';

/**
 * The console's provider settings and webhooks in a real Chromium, against a
 * broker process (dist/main.js, on the run's Redis) that trusts a test CA
 * through NODE_EXTRA_CA_CERTS, as operators do: private_key_jwt against
 * panva/oidc-provider, which verifies the assertion; tls_client_auth against
 * an HTTPS token endpoint that checks client certificates; webhooks to an
 * HTTPS receiver. Keys and certificates are chosen as files (setInputFiles),
 * read in the browser, and never shown. The tests run in order, as one
 * admin's session.
 */
jest.setTimeout(90_000);

const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

describe('console: client authentication methods and webhooks (Chromium)', () => {
  const pki = new TestPki();
  const jwtKey = keyPairFor('ES256', 'console-a');
  const nextJwtKey = keyPairFor('ES256', 'console-b');
  const unknownJwtKey = keyPairFor('ES256', 'console-unknown');
  const workspace = `o_console_pa_${Date.now().toString(36)}`;
  const resource = 'https://api.example.com/console-orders';
  let mtlsCert: Issued;
  let nextMtlsCert: Issued;
  let caPem: string;
  let provider: OidcProvider;
  let mtls: TlsEndpoint;
  let hooks: TlsEndpoint;
  let broker: BrokerProcess;
  let brokerUrl: string;
  let http: ReturnType<typeof request>;
  let browser: ConsoleBrowser;
  let page: Page;
  let jwtClientUrl = '';
  const requests: Request[] = [];
  const visited: string[] = [];
  /** Every secret the page was given or shown: none may be in a URL, a cookie, storage, or the page after submit. */
  const secrets: string[] = [];

  const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });
  const navTo = (name: string) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name }).click();
  const expectAccessible = async () => expect(await seriousAxeViolations(page)).toEqual([]);
  /** At phone width: nothing wider than the screen (a long URL wraps). */
  async function phoneScreenshot(name: string): Promise<void> {
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, name);
    await expect(page.evaluate(() => document.documentElement.scrollWidth)).resolves.toBeLessThanOrEqual(390);
    await expectAccessible();
    await page.setViewportSize({ width: 1280, height: 860 });
  }
  const pemFile = (name: string, pem: string) => {
    secrets.push(pem);
    return { name, mimeType: 'application/x-pem-file', buffer: Buffer.from(pem) };
  };
  const idFromUrl = () => decodeURIComponent(new URL(page.url()).hash.split('/').pop() ?? '');

  /** The page holds no PEM text and no file input keeps a file. */
  async function expectNoPemInPage(): Promise<void> {
    const content = await page.content();
    expect(content).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    for (const pem of secrets.filter((secret) => secret.includes('\n'))) {
      expect(content).not.toContain(pem.split('\n')[1]);
    }
    for (const secret of secrets.filter((value) => value.startsWith('whsec_'))) expect(content).not.toContain(secret);
    const files = await page
      .locator('input[type=file]')
      .evaluateAll((inputs) => inputs.map((input) => (input as HTMLInputElement).files?.length ?? 0));
    expect(files.every((count) => count === 0)).toBe(true);
  }

  beforeAll(async () => {
    ensureConsoleBuilt();
    const ca = pki.ca('console-ca');
    caPem = readFileSync(ca.path, 'utf8');
    const serverCert = pki.issue('console-ca', 'server', '127.0.0.1', { san: 'IP:127.0.0.1', usage: 'serverAuth' });
    mtlsCert = pki.issue('console-ca', 'client', 'svc-console-mtls');
    nextMtlsCert = pki.issue('console-ca', 'client-2', 'svc-console-mtls', { days: 1 });
    provider = await startOidcProvider([
      serviceClient({
        client_id: 'svc-console-jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [jwtKey.jwk, nextJwtKey.jwk] },
      }),
    ]);
    mtls = await startMtlsTokenEndpoint(serverCert, caPem);
    hooks = await startHttpsWebhookReceiver(serverCert);
    ({ broker, url: brokerUrl } = await spawnBrokerTrusting(ca.path, {
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: uniquePrefix('console_pa'),
      DEFAULT_TOKEN_URL: provider.tokenUrl,
      TOKEN_URL_ALLOWLIST: '127.0.0.1,http://127.0.0.1',
      WEBHOOK_URL_ALLOWLIST: '127.0.0.1',
    }));
    http = request(brokerUrl);
    browser = await launchConsoleBrowser();
    await recordCspViolations(browser.context);
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('request', (sent) => requests.push(sent));
    page.on('framenavigated', (frame) => visited.push(frame.url()));
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    broker?.child.kill('SIGTERM');
    await broker?.exited;
    await mtls?.stop();
    await hooks?.stop();
    await provider?.stop();
    pki.remove();
  });

  async function startRegistration(name: string, clientId: string, method: string): Promise<void> {
    await navTo('Register');
    await heading('Register a client').waitFor();
    await page.getByLabel('Workspace', { exact: true }).fill(workspace);
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Client id', { exact: true }).fill(clientId);
    await page.getByLabel('Client authentication', { exact: true }).selectOption(method);
  }

  async function addParam(index: number, name: string, value: string): Promise<void> {
    // By keyboard: the new row's name field has the focus, its value field is the next stop.
    await page.getByRole('button', { name: 'Add a parameter' }).focus();
    await page.keyboard.press('Enter');
    const focused = () => page.evaluate(() => document.activeElement?.id);
    await eventually(async () => (await focused()) === `param-name-${index - 1}`, 2_000);
    await page.keyboard.type(name);
    await page.keyboard.press('Tab');
    await page.keyboard.type(value);
    await expect(page.getByLabel(`Parameter ${index} value`, { exact: true }).inputValue()).resolves.toBe(value);
  }

  const accessTokenOf = async (id: string) =>
    (
      await eventually(async () => {
        const answer = await http.get(`/v1/clients/${id}/token`).set(admin);
        return answer.status === 200 ? answer : null;
      }, 20_000)
    ).body.access_token as string;

  it('signs in', async () => {
    await page.goto(`${brokerUrl}/console/`);
    await page.getByLabel('Admin key', { exact: true }).fill(ADMIN_KEY);
    await page.keyboard.press('Enter');
    await heading('Clients').waitFor();
  });

  it('registers a private_key_jwt client with its key uploaded and an extra parameter that reaches the provider', async () => {
    await startRegistration('Console JWT client', 'svc-console-jwt', 'private_key_jwt');
    await expect(page.getByLabel('Token request format').inputValue()).resolves.toBe('form');
    await expect(page.getByLabel('Client secret', { exact: true }).count()).resolves.toBe(0);
    await page.getByLabel('Private key (PKCS#8 PEM file)').setInputFiles(pemFile('console-a.key.pem', jwtKey.pem));
    await page.getByText('Loaded from console-a.key.pem.').waitFor();
    await page.getByLabel('Key id (optional)').fill('console-a');
    await addParam(1, 'resource', resource);
    await page.getByLabel('Default token lifetime, seconds (optional)').fill('1800');
    await expectNoPemInPage();
    await expectAccessible();
    await screenshot(page, 'register-private-key-jwt');
    await phoneScreenshot('register-private-key-jwt-phone');

    await page.getByRole('button', { name: 'Register' }).click();
    await heading('Console JWT client').waitFor();
    jwtClientUrl = page.url();
    await page.locator('.state-line .badge-ready').waitFor({ timeout: 20_000 });
    const details = page.locator('dl.details');
    for (const text of ['private_key_jwt', 'ES256', 'console-a', `resource=${resource}`, '1800 s']) {
      await details.getByText(text, { exact: true }).waitFor();
    }
    await details.getByText(`…${keyHintOf(jwtKey.privateKey)}`, { exact: true }).waitFor();
    const introspected = await provider.introspect(await accessTokenOf(idFromUrl()));
    expect(introspected).toMatchObject({ active: true, client_id: 'svc-console-jwt', aud: resource });
    await expectNoPemInPage();
    await expectAccessible();
    await screenshot(page, 'client-private-key-jwt');
  });

  it('rotates the key by upload; a key the provider does not know is refused and the old one stays', async () => {
    await page.getByRole('heading', { name: 'Rotate private key' }).waitFor();
    await page.getByLabel('New private key (PKCS#8 PEM file)').setInputFiles(pemFile('next.pem', nextJwtKey.pem));
    await page.getByLabel('New key id (optional)').fill('console-b');
    await page.getByRole('button', { name: 'Rotate' }).click();
    await page.getByText(`hint is now …${keyHintOf(nextJwtKey.privateKey)}.`).waitFor();
    await page.locator('dl.details').getByText('console-b', { exact: true }).waitFor();
    await page.getByRole('cell', { name: 'client.rotate_secret' }).first().waitFor();

    await page.getByLabel('New private key (PKCS#8 PEM file)').setInputFiles(pemFile('x.pem', unknownJwtKey.pem));
    await page.getByRole('button', { name: 'Rotate' }).click();
    const refusal = page.getByRole('alert');
    await refusal.waitFor();
    await expect(refusal.textContent()).resolves.toMatch(/refused.*old secret stays/);
    const view = (await http.get(`/v1/clients/${idFromUrl()}`).set(admin)).body;
    expect(view).toMatchObject({ keyId: 'console-b', secretHint: keyHintOf(nextJwtKey.privateKey) });
    await expectNoPemInPage();
    await expectAccessible();
    await screenshot(page, 'client-private-key-jwt-rotated');
  });

  it('says which file is missing, and refuses a file that is not PEM, before sending anything', async () => {
    await startRegistration('Console mTLS client', 'svc-console-mtls', 'tls_client_auth');
    await page.getByRole('button', { name: 'Register' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/client certificate file/);
    await page.getByLabel('Client certificate (PEM file, chain allowed)').setInputFiles({
      name: 'cert.der',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from([0x30, 0x82, 0x01, 0x0a]),
    });
    await page.getByText('cert.der is not a PEM file').waitFor();
  });

  it('registers a tls_client_auth client with certificate and key uploaded, then rotates both by upload', async () => {
    await page.getByLabel('Token URL (optional)').fill(mtls.url);
    const chain = `${mtlsCert.certificate}${caPem}`;
    await page.getByLabel('Client certificate (PEM file, chain allowed)').setInputFiles(pemFile('chain.pem', chain));
    await page.getByLabel('Private key (PKCS#8 PEM file)').setInputFiles(pemFile('key.pem', mtlsCert.privateKey));
    await addParam(1, 'audience', 'orders-api');
    await expectAccessible();
    await screenshot(page, 'register-tls-client-auth');
    await page.getByRole('button', { name: 'Register' }).click();
    await heading('Console mTLS client').waitFor();
    await page.locator('.state-line .badge-ready').waitFor({ timeout: 20_000 });
    await page.locator('dl.details').getByText('tls_client_auth', { exact: true }).waitFor();
    await page.getByText('Certificate expires', { exact: true }).waitFor();
    // Issued for 2 days: within the 14 days of client.certificate_expiring.
    await expect(page.locator('#certificate-warning').textContent()).resolves.toMatch(/ends in 1 day: rotate it/);
    const sent = new URLSearchParams(mtls.received.at(-1)?.body ?? '');
    expect(sent.get('audience')).toBe('orders-api');
    expect(sent.get('client_id')).toBe('svc-console-mtls');
    const hint = (pem: string) => keyHintOf(createPrivateKey(pem));
    await page
      .locator('dl.details')
      .getByText(`…${hint(mtlsCert.privateKey)}`, { exact: true })
      .waitFor();
    await expectNoPemInPage();
    await expectAccessible();
    await screenshot(page, 'client-tls-client-auth');

    await page.getByRole('heading', { name: 'Rotate certificate and key' }).waitFor();
    const newCert = page.getByLabel('New client certificate (PEM file, chain allowed)');
    await newCert.setInputFiles(pemFile('next-cert.pem', nextMtlsCert.certificate));
    await page.getByLabel('New private key (PKCS#8 PEM file)').setInputFiles(pemFile('k.pem', nextMtlsCert.privateKey));
    await page.getByRole('button', { name: 'Rotate' }).click();
    await page.getByText(`hint is now …${hint(nextMtlsCert.privateKey)}.`).waitFor();
    await expectNoPemInPage();
  });

  it('creates a webhook (secret shown once, with a copy button), lists its deliveries after a test, pages them, deletes it', async () => {
    await navTo('Webhooks');
    await heading('Webhooks').waitFor();
    await expectAccessible();
    await page.getByLabel('URL', { exact: true }).fill(hooks.url);
    await page.getByLabel(/every event/).uncheck();
    await page.getByLabel(/^client\.rejected/).check();
    await page.getByLabel(/^client\.certificate_expiring/).check();
    await page.getByLabel('Workspaces (optional)').fill(workspace);
    await screenshot(page, 'webhook-create');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secretField = page.getByLabel("The new webhook's signing secret", { exact: true });
    await secretField.waitFor();
    const secret = await secretField.inputValue();
    secrets.push(secret);
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied to the clipboard.').waitFor();
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(secret);
    await expectAccessible();
    await screenshot(page, 'webhook-created');
    await page.getByRole('button', { name: 'Done, I have stored it' }).click();
    const row = page.getByRole('row').filter({ hasText: hooks.url });
    await row.getByText('client.rejected, client.certificate_expiring').waitFor();
    expect(await page.content()).not.toContain(secret);
    await screenshot(page, 'webhooks');
    await phoneScreenshot('webhooks-phone');

    await row.getByRole('link', { name: hooks.url }).click();
    await heading(`Webhook ${hooks.url}`).waitFor();
    await page.getByText('No deliveries yet.').waitFor();
    await page.getByRole('button', { name: 'Send test' }).click();
    const delivered = page.locator('tr[data-delivery-state=delivered]');
    await delivered.first().waitFor({ timeout: 15_000 });
    await expect(delivered.first().textContent()).resolves.toContain('webhook.test');
    await eventually(() => hooks.received.length >= 1);
    const verified = new Webhook(secret).verify(hooks.received[0].body, hooks.received[0].headers as never);
    expect(verified).toMatchObject({ type: 'webhook.test' });
    await expectAccessible();
    await screenshot(page, 'webhook-deliveries');
    await phoneScreenshot('webhook-deliveries-phone');

    // 26 more: the newest 25 first, then the older ones by cursor.
    const id = idFromUrl();
    for (let i = 0; i < 26; i += 1) expect((await http.post(`/v1/webhooks/${id}/test`).set(admin)).status).toBe(202);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByRole('button', { name: 'Older deliveries' }).click();
    await eventually(async () => (await page.locator('tbody tr').count()) === 27);

    await navTo('Webhooks');
    await page.getByRole('button', { name: `Delete webhook ${hooks.url}` }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this webhook?' });
    await dialog.waitFor();
    await expectAccessible();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await http.get('/v1/webhooks').set(admin)).body.items).toHaveLength(1);
    await page.getByRole('button', { name: `Delete webhook ${hooks.url}` }).click();
    await dialog.getByRole('button', { name: 'Delete webhook' }).click();
    await page.getByText(`Webhook ${hooks.url} deleted`).waitFor();
    await page.getByText('No webhooks yet.').waitFor();
    expect((await http.get('/v1/webhooks').set(admin)).body.items).toEqual([]);
  });

  it('never puts a key, a certificate or a secret in a URL, a cookie or storage, and breaks no CSP rule', async () => {
    await page.goto(jwtClientUrl);
    await heading('Console JWT client').waitFor();
    await expectNoPemInPage();
    const urls = [...visited, ...requests.map((sent) => sent.url())];
    for (const secret of [ADMIN_KEY, ...secrets]) {
      expect(urls.filter((url) => url.includes(secret) || url.includes(encodeURIComponent(secret)))).toEqual([]);
    }
    expect(await browser.context.cookies()).toEqual([]);
    await expect(page.evaluate(() => localStorage.length)).resolves.toBe(0);
    await expect(page.evaluate(() => Object.values(sessionStorage))).resolves.toEqual([ADMIN_KEY]);
    expect(requests.every((sent) => sent.url().startsWith(brokerUrl))).toBe(true);
    await expect(cspViolations(page)).resolves.toEqual([]);
  });
});
