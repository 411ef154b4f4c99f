export {
  TOKEN_BROKER_OPTIONS,
  TokenBrokerModule,
  type TokenBrokerModuleAsyncOptions,
  type TokenBrokerModuleOptions,
} from './token-broker.module.ts';
export { TokenBrokerClient } from '../client.ts';
