export { TokenBrokerClient, type TokenBrokerClientStats, type TokenBrokerTokenProvider } from './client.ts';
export { TokenBrokerError, type TokenBrokerErrorCode, type TokenBrokerErrorOptions } from './errors.ts';
export type { FetchLike, TokenBrokerClientOptions, TokenBrokerLogger } from './options.ts';
export type { TokenInfo } from './token-cache.ts';
