import { randomBytes } from 'node:crypto';
import type { AllowedHost, EncryptionKey } from './config';

/** The points TEST_FAILPOINT may name: a fault test kills the process there. */
export const TEST_FAILPOINTS = ['after-client-write', 'after-client-insert'] as const;
export type TestFailpoint = (typeof TEST_FAILPOINTS)[number];

export type Env = Record<string, string | undefined>;

/** Reads variables and gathers what is wrong with them, so one start reports every bad variable at once. */
export class EnvReader {
  readonly problems: string[] = [];

  constructor(readonly env: Env) {}

  problem(message: string): void {
    this.problems.push(message);
  }

  text(name: string, fallback: string): string {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? fallback : value.trim();
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw.trim());
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problem(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  list(name: string, fallback = ''): string[] {
    return splitList(this.env[name] ?? fallback);
  }
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,32}$/;
/** What `Authorization: Bearer <key>` can carry, as the auth guard reads it: a key outside this never authenticates. */
const BEARER_CHARACTERS = /^[\x21-\x7e]+$/;
const MAX_BEARER_LENGTH = 512;

/** BROKER_ADMIN_KEYS; outside production, one is generated (and printed at start) when none is set. */
export function readAdminKeys(read: EnvReader, production: boolean) {
  const adminKeys = read.list('BROKER_ADMIN_KEYS');
  for (const key of adminKeys) {
    if (key.length < 16) read.problem('BROKER_ADMIN_KEYS: every key must be at least 16 characters');
    if (key.length > MAX_BEARER_LENGTH) {
      read.problem(`BROKER_ADMIN_KEYS: every key must be at most ${MAX_BEARER_LENGTH} characters`);
    }
    if (!BEARER_CHARACTERS.test(key)) {
      read.problem('BROKER_ADMIN_KEYS: keys may hold only visible ASCII (no spaces, no accents), like a bearer token');
    }
  }
  const adminKeyGenerated = adminKeys.length === 0 && !production;
  if (adminKeyGenerated) adminKeys.push(`adm_${randomBytes(24).toString('base64url')}`);
  return { adminKeys, adminKeyGenerated };
}

/** BROKER_ENCRYPTION_KEYS; a throwaway key only on the memory store outside production. */
export function readEncryptionKeys(read: EnvReader, where: { production: boolean; storeVariable?: string }) {
  const encryptionKeys: EncryptionKey[] = [];
  for (const entry of read.list('BROKER_ENCRYPTION_KEYS')) {
    const separator = entry.indexOf(':');
    const kid = entry.slice(0, separator);
    const key = Buffer.from(entry.slice(separator + 1), 'base64');
    if (separator < 1 || !KEY_ID.test(kid)) {
      read.problem('BROKER_ENCRYPTION_KEYS: each entry is kid:base64-32-bytes, kid of [A-Za-z0-9_.-]');
    } else if (key.length !== 32) {
      read.problem(`BROKER_ENCRYPTION_KEYS: key "${kid}" must decode from base64 to exactly 32 bytes`);
    } else if (encryptionKeys.some((known) => known.kid === kid)) {
      read.problem(`BROKER_ENCRYPTION_KEYS: key id "${kid}" appears twice`);
    } else {
      encryptionKeys.push({ kid, key });
    }
  }
  const unset = read.env.BROKER_ENCRYPTION_KEYS === undefined;
  const encryptionKeyEphemeral = encryptionKeys.length === 0 && where.storeVariable === undefined && !where.production;
  if (encryptionKeyEphemeral) encryptionKeys.push({ kid: 'ephemeral', key: randomBytes(32) });
  if (encryptionKeys.length === 0 && where.storeVariable !== undefined && !where.production && unset) {
    read.problem(
      `BROKER_ENCRYPTION_KEYS is required with ${where.storeVariable}: ` +
        'a throwaway key would make stored secrets unreadable after a restart',
    );
  }
  return { encryptionKeys, encryptionKeyEphemeral };
}

/** Where tokens come from: the default token URL, Pipedream's API base, and the hosts a token URL may name. */
export function readUpstreams(read: EnvReader) {
  const defaultTokenUrl = read.text('DEFAULT_TOKEN_URL', 'https://api.pipedream.com/v1/oauth/token');
  const pipedreamApiBase = read.text('PIPEDREAM_API_BASE', 'https://api.pipedream.com').replace(/\/+$/, '');
  for (const [name, value] of [
    ['DEFAULT_TOKEN_URL', defaultTokenUrl],
    ['PIPEDREAM_API_BASE', pipedreamApiBase],
  ]) {
    if (!isHttpUrl(value)) read.problem(`${name} must be an http(s) URL (got "${value}")`);
  }
  const tokenUrlAllowlist = readAllowlist(read, 'TOKEN_URL_ALLOWLIST', 'api.pipedream.com');
  if (tokenUrlAllowlist.length === 0) read.problem('TOKEN_URL_ALLOWLIST must name at least one host');
  return { defaultTokenUrl, pipedreamApiBase, tokenUrlAllowlist };
}

/** Webhook receivers: the hosts they may name (none by default), the retry delays and the per-attempt timeout. */
export function readWebhooks(read: EnvReader) {
  return {
    webhookUrlAllowlist: readAllowlist(read, 'WEBHOOK_URL_ALLOWLIST', ''),
    webhookRetrySeconds: retryDelays(read),
    webhookTimeoutMs: read.integer('WEBHOOK_TIMEOUT_MS', 5_000, 100, 60_000),
  };
}

function readAllowlist(read: EnvReader, name: string, fallback: string): AllowedHost[] {
  const hosts: AllowedHost[] = [];
  for (const entry of read.list(name, fallback)) {
    const parsed = parseAllowedHost(entry);
    if (parsed) hosts.push(parsed);
    else read.problem(`${name}: "${entry}" is not a host name, or http://host[:port]`);
  }
  return hosts;
}

/** TEST_FAILPOINT: test only, refused in production. */
export function readFailpoint(read: EnvReader, production: boolean): TestFailpoint | null {
  const name = read.text('TEST_FAILPOINT', '');
  if (name === '') return null;
  const known = TEST_FAILPOINTS.find((point) => point === name);
  if (!known) read.problem(`TEST_FAILPOINT must be one of ${TEST_FAILPOINTS.join(', ')} (got "${name}")`);
  if (production) {
    read.problem('TEST_FAILPOINT stops the process on purpose: it is for tests and refused when NODE_ENV=production');
  }
  return known ?? null;
}

const DEFAULT_WEBHOOK_RETRY_SECONDS = '5,300,1800,7200,18000,36000';

function retryDelays(read: EnvReader): number[] {
  const entries = read.list('WEBHOOK_RETRY_SECONDS', DEFAULT_WEBHOOK_RETRY_SECONDS);
  const delays = entries.map(Number);
  const bad = (delay: number, index: number) => !/^\d+$/.test(entries[index]) || delay < 1 || delay > 604_800;
  if (entries.length === 0 || entries.length > 50 || delays.some(bad)) {
    read.problem('WEBHOOK_RETRY_SECONDS must be 1 to 50 comma-separated whole seconds, each from 1 to 604800');
    return [];
  }
  return delays;
}

function splitList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function parseAllowedHost(entry: string): AllowedHost | null {
  const withScheme = /^[a-z]+:\/\//i.test(entry) ? entry : `https://${entry}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return null;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return null;
  if (url.pathname !== '/' || url.search || url.hash) return null;
  return {
    protocol: url.protocol,
    hostname: url.hostname.toLowerCase().replace(/\.$/, ''),
    port: url.port === '' ? null : url.port,
  };
}
