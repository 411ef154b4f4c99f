import {
  Logger,
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { TokenBrokerClient } from '../client.ts';
import type { TokenBrokerClientOptions, TokenBrokerLogger } from '../options.ts';

/** The options the module's TokenBrokerClient is built from. */
export const TOKEN_BROKER_OPTIONS = Symbol('TOKEN_BROKER_OPTIONS');

export interface TokenBrokerModuleOptions extends TokenBrokerClientOptions {
  /** Register the client in every module of the app, as ConfigModule's isGlobal does. Default false. */
  isGlobal?: boolean;
}

export interface TokenBrokerModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  isGlobal?: boolean;
  /** Called with what `inject` names, in that order. */
  useFactory: (...args: never[]) => TokenBrokerClientOptions | Promise<TokenBrokerClientOptions>;
  inject?: InjectionToken[];
}

/** Stops the client's background renewals when the app shuts down. */
class TokenBrokerClientCloser implements OnApplicationShutdown {
  constructor(private readonly client: TokenBrokerClient) {}

  onApplicationShutdown(): void {
    this.client.close();
  }
}

/**
 * Provides a TokenBrokerClient (inject it by its class) to a Nest app:
 * `TokenBrokerModule.forRoot({ baseUrl, serviceKey })`, or forRootAsync with ConfigService.
 */
export class TokenBrokerModule {
  static forRoot(options: TokenBrokerModuleOptions): DynamicModule {
    const { isGlobal, ...clientOptions } = options;
    return TokenBrokerModule.build(isGlobal, [], { provide: TOKEN_BROKER_OPTIONS, useValue: clientOptions });
  }

  static forRootAsync(options: TokenBrokerModuleAsyncOptions): DynamicModule {
    return TokenBrokerModule.build(options.isGlobal, options.imports ?? [], {
      provide: TOKEN_BROKER_OPTIONS,
      useFactory: options.useFactory,
      inject: options.inject ?? [],
    });
  }

  private static build(
    isGlobal: boolean | undefined,
    imports: ModuleMetadata['imports'],
    optionsProvider: Provider,
  ): DynamicModule {
    return {
      module: TokenBrokerModule,
      global: isGlobal ?? false,
      imports,
      providers: [
        optionsProvider,
        {
          provide: TokenBrokerClient,
          useFactory: (clientOptions: TokenBrokerClientOptions) =>
            new TokenBrokerClient({ logger: nestLogger(), ...clientOptions }),
          inject: [TOKEN_BROKER_OPTIONS],
        },
        {
          provide: TokenBrokerClientCloser,
          useFactory: (client: TokenBrokerClient) => new TokenBrokerClientCloser(client),
          inject: [TokenBrokerClient],
        },
      ],
      exports: [TokenBrokerClient],
    };
  }
}

// Applied as a call rather than as a decorator, so the package builds without experimentalDecorators.
Module({})(TokenBrokerModule);

/** Nest's Logger under the name TokenBrokerClient; the context object rides along as JSON. */
function nestLogger(): TokenBrokerLogger {
  const logger = new Logger('TokenBrokerClient');
  const line = (message: string, context?: Record<string, unknown>): string =>
    context === undefined ? message : `${message} ${JSON.stringify(context)}`;
  return {
    debug: (message, context) => logger.debug(line(message, context)),
    info: (message, context) => logger.log(line(message, context)),
    warn: (message, context) => logger.warn(line(message, context)),
    error: (message, context) => logger.error(line(message, context)),
  };
}
