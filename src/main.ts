import 'reflect-metadata';
import { createApp } from './app.factory';
import { whereToGo } from './common/first-run';
import { chooseLogFormat, logDestination } from './common/log-format';
import { createLogger } from './common/logger';
import { ConfigError } from './config/config';
import { loadConfigFromEnvironment } from './config/load-config';

const SHUTDOWN_DEADLINE_MS = 9_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfigFromEnvironment();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`token-broker: refusing to start.\n${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logFormat = chooseLogFormat({ production: config.production, stdoutIsTty: process.stdout.isTTY === true });
  const logger = createLogger(config.logLevel, logDestination(logFormat));
  if (config.redis === null) {
    logger.warn(
      'No store variable (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES) is set: running on the in-process ' +
        'memory store (one instance only; nothing survives a restart, queued webhook deliveries included)',
    );
  }
  if (config.encryptionKeyEphemeral) {
    logger.warn('BROKER_ENCRYPTION_KEYS is not set: secrets are encrypted with a throwaway key for this run only');
  }

  // A promise nobody awaited must not take down a replica that is serving held tokens.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  const app = await createApp(config, logger);
  await app.listen({ port: config.port, host: config.host });
  const store = config.redis?.kind ?? 'memory';
  logger.info({ port: config.port, host: config.host, store }, 'token-broker listening');
  // Printed once, to the terminal only, so a first run can follow the README; never logged.
  if (!config.production) process.stdout.write(whereToGo(config));

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests and releasing refresh locks');
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    app
      .close()
      .then(() => process.exit(0))
      .catch((error) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`token-broker: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
