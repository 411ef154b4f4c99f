import { UsageError } from '../cli/output';

export interface CliConfig {
  /** The broker's base URL, without a trailing slash. */
  baseUrl: string;
  /** Null when TOKEN_BROKER_ADMIN_KEY is unset: only the unauthenticated health probe works then. */
  adminKey: string | null;
}

const DEFAULT_URL = 'http://127.0.0.1:3000';

/**
 * The one place the command line reads its environment (the server reads its
 * own in src/config). The admin key comes from the environment, never from an
 * argument, so it stays out of shell history and `ps`.
 */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const raw = env.TOKEN_BROKER_URL?.trim() || DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError('TOKEN_BROKER_URL is not a URL (example: http://127.0.0.1:3000)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError('TOKEN_BROKER_URL must be an http:// or https:// URL');
  }
  const adminKey = env.TOKEN_BROKER_ADMIN_KEY?.trim() || null;
  return { baseUrl: url.toString().replace(/\/+$/, ''), adminKey };
}
