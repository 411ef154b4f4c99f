// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CONSOLE_ASSETS_DIR } from '../../src/console/console.static';

/** Debian's Chromium, installed by `npm test`'s pretest (scripts/ensure-system-packages.js), never a downloaded one. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags that keep Chromium from calling out of this machine (its closed network refuses it anyway). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const ARTIFACTS_DIR = resolve(__dirname, '..', 'artifacts', 'console');

export interface ConsoleBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** The console is served from the production build; builds it when a test runs without `npm run build` first. */
export function ensureConsoleBuilt(): void {
  if (existsSync(join(CONSOLE_ASSETS_DIR, 'index.html'))) return;
  execFileSync('npx', ['vite', 'build', 'console'], { cwd: resolve(__dirname, '..', '..'), stdio: 'ignore' });
}

/** A fresh Chromium profile (its own --user-data-dir), removed on close. */
export async function launchConsoleBrowser(): Promise<ConsoleBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing: run \`node scripts/ensure-system-packages.js\` (npm test's pretest does)`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'tb-console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 860 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core in the page. It is evaluated through the DevTools protocol,
 * which the console's CSP does not govern, so the policy stays as strict as
 * it is in production (a <script> tag would need 'unsafe-inline').
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  const loaded = await page.evaluate(() => typeof (window as { axe?: unknown }).axe === 'object');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run: (context: Document, options: object) => Promise<{ violations: AxeViolation[] }> };
      }
    ).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map(({ id, impact, help, nodes }) => ({
      id,
      impact,
      help,
      nodes: nodes.map((node) => ({ target: node.target })),
    }));
  });
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}

/** Each securitypolicyviolation of the page, in window.__cspViolations from before the page's own scripts run. */
export async function recordCspViolations(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const violations: string[] = [];
    (window as unknown as { __cspViolations: string[] }).__cspViolations = violations;
    document.addEventListener('securitypolicyviolation', (event) =>
      violations.push(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });
}

export function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __cspViolations?: string[] }).__cspViolations ?? []);
}
