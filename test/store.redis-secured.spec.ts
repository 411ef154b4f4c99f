import { join } from 'node:path';
import request from 'supertest';
import { RedisStore } from '../src/store/redis.store';
import { ADMIN_KEY, ENCRYPTION_KEY, eventually } from './support/broker';
import { spawnBroker, waitForOutput, type BrokerProcess } from './support/broker-process';
import { FakePipedream } from './support/fake-pipedream';
import { freePort, type RedisTlsFiles } from './support/redis-server';
import Redis from 'ioredis';
import {
  INFRA_USER,
  SENTINEL_BROKER_RULES,
  startRedisCluster,
  startRedisSentinel,
  topologyEnv,
  type RedisAclUser,
  type RedisTopologyHandle,
} from './support/redis-topologies';
import { TestPki } from './support/test-pki';
import { describeStoreContract, makeEntry } from './store-contract';

/**
 * REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS against Redis set up as a careful operator would: the
 * default user off, the broker's own ACL user allowed only its key prefix and channels, and a Cluster
 * and a Sentinel setup that speak TLS only (clients, replication, the cluster bus, the Sentinels), with a
 * certificate of a private CA the broker process trusts through NODE_EXTRA_CA_CERTS.
 */

jest.setTimeout(120_000);

const PREFIX_ROOT = 'tbsec:';
const BROKER: RedisAclUser = {
  username: 'token-broker',
  password: 'acl-password-0123456789',
  rules: [`~${PREFIX_ROOT}*`, `&${PREFIX_ROOT}*`, '+@all'],
};

/** The Sentinels' own password (requirepass), REDIS_SENTINEL_PASSWORD: not the data nodes' user. */
const SENTINEL_PASSWORD = 'sentinel-password-9876543210';

/** The broker's user on the Sentinels (REDIS_SENTINEL_USERNAME/PASSWORD), allowed only what ioredis asks of them. */
const SENTINEL_USER: RedisAclUser = {
  username: 'tb-broker-sentinel',
  password: 'sentinel-acl-password-5555',
  rules: SENTINEL_BROKER_RULES,
};

let serial = 0;
const prefix = (name: string) => `${PREFIX_ROOT}${name}${(serial += 1)}:`;

describe('Redis Sentinel with an ACL user on the data nodes and one on the Sentinels (REDIS_SENTINEL_USERNAME)', () => {
  let sentinel: RedisTopologyHandle;
  beforeAll(async () => {
    sentinel = await startRedisSentinel({ replicas: 2, sentinels: 3, acl: BROKER, sentinelAcl: SENTINEL_USER });
  });
  afterAll(() => sentinel?.stop());

  const connect = (topology = sentinel.topology) =>
    RedisStore.connect({ topology, keyPrefix: prefix('s'), waitReplicas: 0 });

  describeStoreContract(
    'RedisStore through Sentinels, as ACL users kept to its prefix and to what it asks Sentinels',
    () => connect(),
  );

  it.each([
    ['data nodes', { password: 'not-the-password' }],
    ['Sentinels', { sentinelPassword: 'not-the-password' }],
    ['Sentinels, as a user they do not know', { sentinelUsername: 'not-the-user' }],
  ])(
    'with a wrong password for the %s answers no command and logs what the server said, never the password',
    async (_, wrong) => {
      const warnings: string[] = [];
      const logger = {
        warn: (details: object, message: string) => warnings.push(`${message} ${JSON.stringify(details)}`),
      };
      if (sentinel.topology.kind !== 'sentinel') throw new Error('a Sentinel topology was expected');
      const store = await RedisStore.connect({
        topology: { ...sentinel.topology, ...wrong },
        keyPrefix: prefix('wrong'),
        waitReplicas: 0,
        logger,
      });
      try {
        await expect(store.ping()).rejects.toThrow();
        await eventually(() => warnings.some((line) => /WRONGPASS|NOAUTH/.test(line)), 10_000);
        const logged = warnings.join('\n');
        expect(logged).not.toContain('not-the-password');
        expect(logged).not.toContain(SENTINEL_USER.password);
      } finally {
        await store.close();
      }
    },
  );

  // Last in this describe: it kills the master the tests above used.
  it('follows a failover as that user: subscribed to +switch-master on the Sentinels, writing again once a replica is promoted', async () => {
    const store = await RedisStore.connect({
      topology: sentinel.topology,
      keyPrefix: prefix('failover'),
      waitReplicas: 1,
    });
    try {
      await store.insertClient(makeEntry('cl_before'), 1_000);
      // ioredis's failover detector subscribes on the Sentinels: the rules let it, or it would never hear of one.
      await eventually(async () => (await subscribersOnSentinels()).includes(SENTINEL_USER.username), 10_000);

      sentinel.nodes[0].process.kill('SIGKILL');
      let attempt = 0;
      await eventually(async () => {
        attempt += 1;
        return store.insertClient(makeEntry(`cl_after${attempt}`), 1_000).then(
          () => true,
          () => false,
        );
      }, 30_000);
      // Each of the store's connections follows the promotion on its own: reads may answer unavailable a moment
      // longer than writes did (no offline queue), then find what was written before the kill.
      const before = await eventually(() => store.getClient('cl_before'), 10_000);
      expect(before?.client.id).toBe('cl_before');
    } finally {
      await store.close();
    }
  });

  /** The users of the connections subscribed on any Sentinel (CLIENT LIST, read as the Sentinels' own user). */
  async function subscribersOnSentinels(): Promise<string[]> {
    const users: string[] = [];
    for (const { port } of sentinel.sentinels) {
      const redis = new Redis({ port, host: '127.0.0.1', ...INFRA_USER, lazyConnect: true });
      try {
        await redis.connect();
        const list = (await redis.call('CLIENT', 'LIST')) as string;
        for (const line of list.split('\n')) {
          if (/\bsub=[1-9]/.test(line)) users.push(/\buser=(\S+)/.exec(line)?.[1] ?? '');
        }
      } finally {
        redis.disconnect();
      }
    }
    return users;
  }
});

const TLS_TOPOLOGIES = [
  {
    name: 'a Redis Cluster',
    start: (tls: RedisTlsFiles) => startRedisCluster({ masters: 3, replicas: 1, acl: BROKER, tls }),
  },
  {
    name: 'Sentinels (TLS to the Sentinels too, and a password of their own)',
    start: (tls: RedisTlsFiles) =>
      startRedisSentinel({ replicas: 1, sentinels: 3, acl: BROKER, tls, sentinelPassword: SENTINEL_PASSWORD }),
  },
];

describe.each(TLS_TOPOLOGIES)('$name over TLS only, with an ACL user (REDIS_TLS=true)', ({ start }) => {
  const pki = new TestPki();
  let redis: RedisTopologyHandle;
  let upstream: FakePipedream;
  let broker: BrokerProcess;
  let http: ReturnType<typeof request>;
  let caFile: string;

  beforeAll(async () => {
    caFile = pki.ca('redis-ca').path;
    pki.issue('redis-ca', 'redis', 'localhost', { san: 'IP:127.0.0.1,DNS:localhost', usage: 'serverAuth,clientAuth' });
    redis = await start({ certFile: join(pki.dir, 'redis.pem'), keyFile: join(pki.dir, 'redis.key'), caFile });
    upstream = await FakePipedream.start();
    const port = await freePort();
    broker = spawnBroker({
      ...topologyEnv(redis),
      REDIS_KEY_PREFIX: prefix('tls'),
      NODE_EXTRA_CA_CERTS: caFile,
      PORT: String(port),
      HOST: '127.0.0.1',
      BROKER_ADMIN_KEYS: ADMIN_KEY,
      BROKER_ENCRYPTION_KEYS: ENCRYPTION_KEY,
      TOKEN_URL_ALLOWLIST: 'http://127.0.0.1',
      DEFAULT_TOKEN_URL: upstream.tokenUrl,
    });
    await waitForOutput(broker.stdout, /token-broker listening/, 30_000);
    http = request(`http://127.0.0.1:${port}`);
  });
  afterAll(async () => {
    broker?.child.kill('SIGTERM');
    await broker?.exited;
    await upstream?.stop();
    await redis?.stop();
    pki.remove();
  });

  it('is given the TLS and ACL variables, is ready, registers a client and serves its token', async () => {
    expect(topologyEnv(redis)).toMatchObject({ REDIS_TLS: 'true', REDIS_USERNAME: BROKER.username });
    await eventually(async () => (await http.get('/health/ready')).status === 200, 15_000);
    upstream.addClient('c1', 's1');

    const created = await http.post('/v1/clients').set('Authorization', `Bearer ${ADMIN_KEY}`).send({
      workspaceId: 'o_tls',
      name: 'tls',
      type: 'oauth_client_credentials',
      clientId: 'c1',
      clientSecret: 's1',
    });
    expect(created.status).toBe(201);
    const token = await http.get(`/v1/clients/${created.body.id}/token`).set('Authorization', `Bearer ${ADMIN_KEY}`);
    expect(token.status).toBe(200);
    expect(token.body.access_token).toMatch(/^pd_at_/);
    expect(broker.stdout() + broker.stderr()).not.toContain(BROKER.password);
    expect(broker.stdout() + broker.stderr()).not.toContain(SENTINEL_PASSWORD);
  });
});
