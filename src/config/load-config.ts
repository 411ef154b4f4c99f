import { parseConfig, type AppConfig } from './config';

/** The one place that reads the process environment. */
export function loadConfigFromEnvironment(): AppConfig {
  return parseConfig(process.env);
}
