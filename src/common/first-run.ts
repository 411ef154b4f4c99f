import type { AppConfig } from '../config/config';

/** The address a person types: a wildcard listen address is reached as localhost. */
export function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * What `npm start` prints once it listens, outside development too but never
 * in production (where stdout carries JSON lines only): where the API, the
 * console and the API docs are, and the admin key when one was generated for
 * this run. The key is written here, to the terminal, and never logged.
 */
export function whereToGo(config: AppConfig): string {
  const base = `http://${displayHost(config.host)}:${config.port}`;
  const store = config.redis === null ? 'in-process memory store' : `Redis (${config.redis.kind})`;
  const lines = [
    '',
    `token-broker is up (${config.nodeEnv}, ${store}).`,
    '',
    `  API        ${base}/v1`,
    `  Console    ${base}/console/`,
    `  API docs   ${base}/docs`,
    '',
  ];
  if (config.adminKeyGenerated) {
    lines.push(
      'No BROKER_ADMIN_KEYS set: generated an admin key for this run:',
      '',
      `  export ADMIN_KEY=${config.adminKeys[0]}`,
      '',
      'Sign in to the console with it. A new one is made at every start until BROKER_ADMIN_KEYS is set.',
      '',
    );
  } else {
    lines.push('Sign in to the console with one of the keys in BROKER_ADMIN_KEYS.', '');
  }
  return `${lines.join('\n')}\n`;
}
