import { ConfigError } from '../config/config';
import { loadConfigFromEnvironment } from '../config/load-config';
import { reencryptAll, reencryptWebhooks } from '../crypto/reencrypt';
import { SecretBox } from '../crypto/secret-box';
import { RedisStore } from '../store/redis.store';

/**
 * `npm run keys:reencrypt`: with the new key first in BROKER_ENCRYPTION_KEYS
 * and the old ones after it, seals every stored secret and token under the
 * new key. Safe to run while brokers serve; safe to run again.
 */
async function main(): Promise<number> {
  const config = loadConfigFromEnvironment();
  if (config.redis === null) {
    process.stderr.write(
      'keys:reencrypt needs a Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES): ' +
        'the memory store lives only inside a running broker.\n',
    );
    return 1;
  }
  const store = await RedisStore.connect({ topology: config.redis, keyPrefix: config.redisKeyPrefix });
  try {
    await store.ping();
    const box = new SecretBox(config.encryptionKeys);
    const report = await reencryptAll(store, box);
    const webhooks = await reencryptWebhooks(store, box);
    process.stdout.write(`${JSON.stringify({ primaryKey: config.encryptionKeys[0].kid, ...report, webhooks })}\n`);
    for (const { id, reason } of report.failed) process.stderr.write(`client ${id} was not re-encrypted: ${reason}\n`);
    if (report.unreadable.length > 0) {
      process.stderr.write(
        'Some clients could not be opened with any configured key; keep the old keys until they are rotated.\n',
      );
    }
    if (webhooks.unreadable.length > 0) {
      process.stderr.write(
        `Webhooks whose secret no configured key opens: ${webhooks.unreadable.join(', ')}; keep the old keys.\n`,
      );
    }
    if (report.failed.length > 0) {
      process.stderr.write(
        'Some clients were not re-encrypted (named above); keep the old keys, fix them and run the command again.\n',
      );
    }
    if (report.unreadable.length > 0 || report.failed.length > 0 || webhooks.unreadable.length > 0) return 2;
    return 0;
  } finally {
    await store.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(
      `${error instanceof ConfigError ? error.message : `keys:reencrypt failed: ${error instanceof Error ? error.message : String(error)}`}\n`,
    );
    process.exit(1);
  },
);
