// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import type { Page, Request } from 'playwright-core';
import { ADMIN_KEY, admin, eventually, randomSecret, startBroker, type TestBroker } from './support/broker';
import {
  cspViolations,
  ensureConsoleBuilt,
  launchConsoleBrowser,
  recordCspViolations,
  screenshot,
  seriousAxeViolations,
  type ConsoleBrowser,
} from './support/console-browser';
import { FakePipedream } from './support/fake-pipedream';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * The admin console in a real Chromium (Debian's, driven by playwright-core)
 * against a real broker on Redis and the fake upstream, served from the
 * production build. The tests run in order, as one admin's session.
 */
jest.setTimeout(60_000);

describe('admin console at /console (Chromium)', () => {
  let upstream: FakePipedream;
  let broker: TestBroker;
  let browser: ConsoleBrowser;
  let page: Page;
  const requests: Request[] = [];
  const visited: string[] = [];
  const secrets: string[] = [];
  const workspace = `o_console_${Date.now().toString(36)}`;
  const oauthClientId = `console-client-${Date.now().toString(36)}`;
  let clientPageUrl = '';

  const consoleUrl = () => `${broker.url}/console/`;
  const heading = (name: string) => page.getByRole('heading', { level: 1, name });

  const navTo = (name: string) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name }).click();

  async function expectAccessible(): Promise<void> {
    expect(await seriousAxeViolations(page)).toEqual([]);
  }

  async function fillSecret(label: string, value: string): Promise<void> {
    secrets.push(value);
    await page.getByLabel(label, { exact: true }).fill(value);
  }

  beforeAll(async () => {
    ensureConsoleBuilt();
    upstream = await FakePipedream.start();
    broker = await startBroker({ upstream });
    browser = await launchConsoleBrowser();
    await recordCspViolations(browser.context);
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('request', (request) => requests.push(request));
    page.on('framenavigated', (frame) => visited.push(frame.url()));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await broker?.close();
    await upstream?.stop();
  });

  it('is served from the production build with its strict Content-Security-Policy', async () => {
    const index = await broker.http().get('/console/');
    expect(index.status).toBe(200);
    expect(index.headers['content-security-policy']).toBe(CSP);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.text).not.toMatch(/<script>|<style|style="/);
    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(index.text)?.[1] ?? '';
    const script = await broker.http().get(asset);
    expect(script.status).toBe(200);
    expect(script.headers['content-security-policy']).toBe(CSP);
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await broker.http().get('/console')).headers.location).toBe('/console/');
  });

  it('signs in with an admin key, by keyboard, and refuses a wrong one', async () => {
    await page.goto(consoleUrl());
    await expect(heading('token-broker console').isVisible()).resolves.toBe(true);
    await expectAccessible();
    await screenshot(page, 'sign-in');

    await page.getByLabel('Admin key', { exact: true }).fill('adm_not_a_real_key_0000000000');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/key/i);

    await page.getByLabel('Admin key', { exact: true }).fill(ADMIN_KEY);
    await page.keyboard.press('Enter');
    await heading('Clients').waitFor();
    await expect(page.evaluate(() => Object.values(sessionStorage))).resolves.toEqual([ADMIN_KEY]);
    await expectAccessible();
  });

  it('registers an OAuth client against the upstream and shows it become ready', async () => {
    const secret = randomSecret('console');
    upstream.addClient(oauthClientId, secret);
    await page.getByRole('link', { name: 'Register a client' }).click();
    await heading('Register a client').waitFor();
    await page.getByLabel('Workspace', { exact: true }).fill(workspace);
    await page.getByLabel('Name', { exact: true }).fill('Console OAuth client');
    await page.getByLabel('Client id', { exact: true }).fill(oauthClientId);
    await fillSecret('Client secret', secret);
    await page.getByLabel('Token request format', { exact: true }).selectOption('json');
    await expectAccessible();
    await screenshot(page, 'register');
    await page.getByRole('button', { name: 'Register' }).click();

    await heading('Console OAuth client').waitFor();
    clientPageUrl = page.url();
    await page.locator('.state-line .badge-ready').waitFor({ timeout: 15_000 });
    await expect(page.getByRole('cell', { name: 'client.create' }).isVisible()).resolves.toBe(true);
    await expectAccessible();
    await screenshot(page, 'client');
  });

  it('rotates the secret, and shows the upstream refusing a wrong one (the old secret stays)', async () => {
    const rotated = randomSecret('rotated');
    upstream.addClient(oauthClientId, rotated);
    await fillSecret('New client secret', rotated);
    await page.getByRole('button', { name: 'Rotate' }).click();
    await page.getByText(`Rotated: the secret now ends with …${rotated.slice(-4)}.`).waitFor();
    await page.getByRole('cell', { name: 'client.rotate_secret' }).first().waitFor({ timeout: 10_000 });

    await fillSecret('New client secret', randomSecret('wrong'));
    await page.getByRole('button', { name: 'Rotate' }).click();
    const refusal = page.getByRole('alert');
    await refusal.waitFor();
    await expect(refusal.textContent()).resolves.toMatch(
      /upstream refused the new credentials.*invalid_client.*old secret stays/,
    );
    await expectAccessible();
    await screenshot(page, 'client-rotation-refused');
  });

  it("shows a client with a wrong secret as rejected, with the upstream's words, first in the list", async () => {
    const clientId = `${oauthClientId}-wrong`;
    upstream.addClient(clientId, randomSecret('right'));
    await navTo('Register');
    await heading('Register a client').waitFor();
    await page.getByLabel('Workspace', { exact: true }).fill(workspace);
    await page.getByLabel('Name', { exact: true }).fill('Console wrong secret');
    await page.getByLabel('Client id', { exact: true }).fill(clientId);
    await fillSecret('Client secret', randomSecret('wrong'));
    await page.getByLabel('Token request format', { exact: true }).selectOption('form');
    await page.getByRole('button', { name: 'Register' }).click();
    await heading('Console wrong secret').waitFor();
    await page.locator('.state-line .badge-rejected').waitFor({ timeout: 15_000 });
    await expect(page.locator('#last-error').textContent()).resolves.toMatch(/invalid_client/);

    await navTo('Clients');
    await heading('Clients').waitFor();
    const attention = page.getByRole('region', { name: 'Needs attention' });
    await attention.getByText('invalid_client', { exact: false }).first().waitFor({ timeout: 10_000 });
    await page.getByLabel('Workspace', { exact: true }).fill(workspace);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('tbody tr').nth(1).waitFor();
    await expect(page.locator('tbody tr').first().getAttribute('data-state')).resolves.toBe('rejected');
    await expectAccessible();
    await screenshot(page, 'clients');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'clients-phone');
    await expectAccessible();
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('registers an api_key client with the key uploaded from a file', async () => {
    const apiKey = randomSecret('pd_user_key');
    upstream.addApiKey(apiKey);
    secrets.push(apiKey);
    await navTo('Register');
    await heading('Register a client').waitFor();
    await expect(page.evaluate(() => document.activeElement?.tagName)).resolves.toBe('H1');
    await page.getByLabel('Pipedream user API key', { exact: true }).check();
    await expect(page.getByLabel('Client id', { exact: true }).count()).resolves.toBe(0);
    await page.getByLabel('Workspace', { exact: true }).fill(workspace);
    await page.getByLabel('Name', { exact: true }).fill('Console API key');
    await page.getByLabel('or load it from a file', { exact: true }).setInputFiles({
      name: 'pipedream-key.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(`${apiKey}\n`),
    });
    await page.getByText('Loaded from pipedream-key.txt.').waitFor();
    await page.getByRole('button', { name: 'Register' }).click();
    await heading('Console API key').waitFor();
    await page.locator('.state-line .badge-ready').waitFor({ timeout: 15_000 });
    await expect(page.getByText(`…${apiKey.slice(-4)}`).isVisible()).resolves.toBe(true);
  });

  it("pages through the clients with the API's nextCursor", async () => {
    const crowded = `${workspace}_many`;
    for (let i = 0; i < 51; i += 1) {
      const created = await broker
        .http()
        .post('/v1/clients')
        .set(admin)
        .send({ workspaceId: crowded, name: `bulk ${i}`, type: 'api_key', apiKey: randomSecret('bulk') });
      expect(created.status).toBe(201);
    }
    await navTo('Clients');
    await heading('Clients').waitFor();
    await page.getByLabel('Workspace', { exact: true }).fill(crowded);
    await page.getByRole('button', { name: 'Filter' }).click();
    // The unfiltered first page has 50 rows too: wait for 50 of this workspace.
    const workspaceCells = page.locator('tbody td[data-label="Workspace"]');
    await eventually(
      async () => (await workspaceCells.allTextContents()).filter((text) => text === crowded).length === 50,
    );
    await expect(page.locator('tbody tr').count()).resolves.toBe(50);
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText('Page 2').waitFor();
    await eventually(async () => (await page.locator('tbody tr').count()) === 1);
    await expect(page.getByRole('button', { name: 'Next page' }).isDisabled()).resolves.toBe(true);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.getByText('Page 1').waitFor();
    await page.locator('tbody tr').nth(49).waitFor();
  });

  it('creates a service key and shows it once, with a copy button; lists and deletes keys', async () => {
    await navTo('Service keys');
    await heading('Service keys').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('console-e2e');
    await page.getByLabel('Workspaces', { exact: true }).fill(workspace);
    await page.getByRole('button', { name: 'Create key' }).click();
    const keyField = page.getByLabel('The new service key', { exact: true });
    await keyField.waitFor();
    const key = await keyField.inputValue();
    secrets.push(key);
    expect(key.length).toBeGreaterThan(20);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied to the clipboard.').waitFor();
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(key);
    await expectAccessible();
    await screenshot(page, 'service-key-created');

    await page.getByRole('button', { name: 'Done, I have stored it' }).click();
    await page.getByRole('cell', { name: /^console-e2e sk_/ }).waitFor();
    expect(await page.content()).not.toContain(key);
    await page.reload();
    await page.getByRole('cell', { name: /^console-e2e sk_/ }).waitFor();
    expect(await page.content()).not.toContain(key);
    await expectAccessible();
    await screenshot(page, 'service-keys');

    await page.getByRole('button', { name: 'Delete service key console-e2e' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete key' }).click();
    await page.getByText('Service key console-e2e deleted').waitFor();
    const listed = await broker.http().get('/v1/service-keys').set(admin);
    expect(listed.body.items.map((item: { name: string }) => item.name)).not.toContain('console-e2e');
  });

  it('deletes a client after a confirmation', async () => {
    await page.goto(clientPageUrl);
    await heading('Console OAuth client').waitFor();
    const id = decodeURIComponent(new URL(clientPageUrl).hash.split('/').pop() ?? '');
    await page.getByRole('button', { name: 'Delete client' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this client?' });
    await dialog.waitFor();
    await expectAccessible();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await broker.http().get(`/v1/clients/${id}`).set(admin)).status).toBe(200);

    await page.getByRole('button', { name: 'Delete client' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Client Console OAuth client deleted.').waitFor();
    await heading('Clients').waitFor();
    await eventually(async () => (await broker.http().get(`/v1/clients/${id}`).set(admin)).status === 404);
  });

  it('signs out, forgetting the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading('token-broker console').waitFor();
    await expect(page.evaluate(() => sessionStorage.length)).resolves.toBe(0);
    await page.reload();
    await heading('token-broker console').waitFor();
  });

  it('never puts the admin key or a secret in a URL, a cookie or localStorage, and breaks no CSP rule', async () => {
    const urls = [...visited, ...requests.map((request) => request.url())];
    expect(urls.length).toBeGreaterThan(10);
    for (const secret of [ADMIN_KEY, ...secrets]) {
      expect(urls.filter((url) => url.includes(secret) || url.includes(encodeURIComponent(secret)))).toEqual([]);
    }
    expect(await browser.context.cookies()).toEqual([]);
    await expect(page.evaluate(() => localStorage.length)).resolves.toBe(0);
    const apiCalls = requests.filter((request) => new URL(request.url()).pathname.startsWith('/v1/'));
    expect(apiCalls.length).toBeGreaterThan(0);
    expect(requests.every((request) => request.url().startsWith(broker.url))).toBe(true);
    await expect(cspViolations(page)).resolves.toEqual([]);
  });

  it('refuses an injected inline script (the CSP is enforced)', async () => {
    const ran = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true';
      document.body.append(script);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return (window as unknown as { __inlineRan?: boolean }).__inlineRan === true;
    });
    expect(ran).toBe(false);
    await expect(cspViolations(page)).resolves.toEqual([expect.stringMatching(/^script-src/)]);
  });
});
