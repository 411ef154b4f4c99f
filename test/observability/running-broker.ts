import { ENCRYPTION_KEY, eventually } from '../support/broker';
import { spawnBroker, type BrokerProcess } from '../support/broker-process';
import type { FakePipedream } from '../support/fake-pipedream';
import { freePort } from '../support/redis-server';
import { testRedisUrl, uniquePrefix } from '../support/test-redis';

export const ADMIN_KEY = 'adm_observability_key_0123456789';

export interface RunningBroker {
  process: BrokerProcess;
  url: string;
  admin: { Authorization: string };
  stop(): Promise<void>;
}

/** The compiled broker on a free loopback port, on the test Redis, allowed to call the fake upstream; ready when returned. */
export async function startRunningBroker(
  upstream: FakePipedream,
  env: Record<string, string> = {},
): Promise<RunningBroker> {
  const port = await freePort();
  const process = spawnBroker({
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: uniquePrefix('observe'),
    BROKER_ADMIN_KEYS: ADMIN_KEY,
    BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
    TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
    DEFAULT_TOKEN_URL: upstream.tokenUrl,
    PIPEDREAM_API_BASE: upstream.baseUrl,
    LOG_LEVEL: 'warn',
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGTERM');
    await Promise.race([process.exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGKILL');
  };
  try {
    await eventually(async () => (await fetch(`${url}/health/ready`).catch(() => null))?.ok, 20_000, 100);
  } catch (error) {
    await stop();
    throw new Error(`the broker did not become ready:\n${process.stdout()}\n${process.stderr()}`, { cause: error });
  }
  return { process, url, admin: { Authorization: `Bearer ${ADMIN_KEY}` }, stop };
}

/** Registers an OAuth client at the broker (and the fake upstream) and waits for its first token. */
export async function registerClient(
  broker: RunningBroker,
  upstream: FakePipedream,
  fields: { workspaceId: string; clientId: string; clientSecret: string },
): Promise<{ id: string; accessToken: string }> {
  upstream.addClient(fields.clientId, fields.clientSecret);
  const created = await fetch(`${broker.url}/v1/clients`, {
    method: 'POST',
    headers: { ...broker.admin, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...fields, name: fields.clientId, type: 'oauth_client_credentials' }),
  });
  const { id } = (await created.json()) as { id: string };
  if (created.status !== 201) throw new Error(`client registration answered ${created.status}`);
  const accessToken = await eventually(async () => {
    const answer = await fetch(`${broker.url}/v1/clients/${id}/token`, { headers: broker.admin });
    return answer.ok ? ((await answer.json()) as { access_token: string }).access_token : null;
  });
  return { id, accessToken };
}
