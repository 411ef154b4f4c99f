import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TokenBrokerClient, TokenBrokerModule } from '../src/nest/index.ts';
import { ScriptedBroker } from './support/scripted-broker';

const OPTIONS = { baseUrl: 'http://broker.test', serviceKey: 'tbk_nest_service_key_0123456789' };

class BrokerSettings {
  readonly baseUrl = OPTIONS.baseUrl;
  readonly serviceKey = OPTIONS.serviceKey;
}

@Module({ providers: [BrokerSettings], exports: [BrokerSettings] })
class SettingsModule {}

describe('TokenBrokerModule', () => {
  it('forRoot provides a TokenBrokerClient, closed when the app shuts down', async () => {
    const broker = new ScriptedBroker();
    const app = await Test.createTestingModule({
      imports: [TokenBrokerModule.forRoot({ ...OPTIONS, fetch: broker.fetch, isGlobal: true })],
    }).compile();
    const client = app.get(TokenBrokerClient);
    expect(await client.getToken('c1')).toBe('tok_1');
    await app.close();
    await expect(client.getToken('c1')).rejects.toMatchObject({ code: 'client_closed' });
  });

  it('forRootAsync builds the options from injected providers', async () => {
    const broker = new ScriptedBroker();
    const app = await Test.createTestingModule({
      imports: [
        TokenBrokerModule.forRootAsync({
          imports: [SettingsModule],
          useFactory: (settings: BrokerSettings) => ({
            baseUrl: settings.baseUrl,
            serviceKey: settings.serviceKey,
            fetch: broker.fetch,
          }),
          inject: [BrokerSettings],
          isGlobal: true,
        }),
      ],
    }).compile();
    expect(await app.get(TokenBrokerClient).getToken('c2')).toBe('tok_1');
    expect(broker.calls[0].authorization).toBe(`Bearer ${OPTIONS.serviceKey}`);
    await app.close();
  });
});
