import type { LookupAddress } from 'node:dns';
import { parseConfig } from '../../config/config';
import { MetricsService } from '../../metrics/metrics.service';
import { TracingService } from '../../tracing/tracing.service';
import { FakePipedream } from '../../../test/support/fake-pipedream';
import { ADDRESS_NOT_ALLOWED, canonicalAddress, guardedLookup, isPublicAddress } from './address-guard';
import { UpstreamClient } from './upstream.client';

const allowlistOf = (value: string) => parseConfig({ TOKEN_URL_ALLOWLIST: value }).tokenUrlAllowlist;

/** Runs a guarded lookup with a scripted resolver; resolves to the addresses or the error code. */
function lookUp(allowlist: string, answers: LookupAddress[], all = false): Promise<string | string[]> {
  const lookup = guardedLookup(allowlistOf(allowlist), (_host, _options, callback) => callback(null, answers));
  return new Promise((resolve) => {
    lookup('token.example', { all }, (error: NodeJS.ErrnoException | null, address: string | LookupAddress[]) => {
      if (error) resolve(error.code ?? 'no code');
      else resolve(Array.isArray(address) ? address.map((entry) => entry.address) : [address]);
    });
  });
}

describe('address guard (SSRF through DNS)', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    'fc12::3',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '[::1]',
    '64:ff9b::7f00:1',
    'not-an-address',
  ])('%s is not public', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it('reads IPv4-mapped IPv6 addresses as the IPv4 address they name', () => {
    expect(canonicalAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalAddress('::FFFF:7F00:0001')).toBe('127.0.0.1');
    expect(canonicalAddress('[::1]')).toBe('::1');
  });

  it('passes public answers through, in both callback forms', async () => {
    const answers = [
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ];
    expect(await lookUp('api.pipedream.com', answers)).toEqual(['93.184.216.34']);
    expect(await lookUp('api.pipedream.com', answers, true)).toEqual(['93.184.216.34', '2606:2800:220:1::1']);
  });

  it('refuses a name that resolves to loopback, private or link-local, even when only one of its answers does', async () => {
    for (const address of ['127.0.0.1', '10.0.0.5', '169.254.169.254', '::1', '::ffff:127.0.0.1']) {
      expect(await lookUp('api.pipedream.com', [{ address, family: address.includes(':') ? 6 : 4 }])).toBe(
        ADDRESS_NOT_ALLOWED,
      );
    }
    expect(
      await lookUp(
        'api.pipedream.com',
        [
          { address: '93.184.216.34', family: 4 },
          { address: '127.0.0.1', family: 4 },
        ],
        true,
      ),
    ).toBe(ADDRESS_NOT_ALLOWED);
    expect(await lookUp('api.pipedream.com', [])).toBe(ADDRESS_NOT_ALLOWED);
  });

  it('allows a non-public address only when the allowlist names that very address', async () => {
    expect(await lookUp('http://127.0.0.1', [{ address: '127.0.0.1', family: 4 }])).toEqual(['127.0.0.1']);
    expect(await lookUp('http://127.0.0.1:8080', [{ address: '::ffff:127.0.0.1', family: 6 }])).toEqual([
      '::ffff:127.0.0.1',
    ]);
    expect(await lookUp('http://127.0.0.1', [{ address: '127.0.0.2', family: 4 }])).toBe(ADDRESS_NOT_ALLOWED);
    expect(await lookUp('http://localhost', [{ address: '127.0.0.1', family: 4 }])).toBe(ADDRESS_NOT_ALLOWED);
  });

  it('decides at every connection, so a name that rebinds to loopback later is refused then', async () => {
    const answers: LookupAddress[][] = [
      [{ address: '93.184.216.34', family: 4 }],
      [{ address: '127.0.0.1', family: 4 }],
    ];
    const lookup = guardedLookup(allowlistOf('api.pipedream.com'), (_host, _options, callback) =>
      callback(null, answers.shift()!),
    );
    const once = () =>
      new Promise<string>((resolve) =>
        lookup('api.pipedream.com', {}, (error, address) =>
          resolve(error ? String(error.code) : typeof address === 'string' ? address : JSON.stringify(address)),
        ),
      );
    expect(await once()).toBe('93.184.216.34');
    expect(await once()).toBe(ADDRESS_NOT_ALLOWED);
  });

  describe('in the upstream client, over real DNS', () => {
    let fake: FakePipedream;
    beforeAll(async () => {
      fake = await FakePipedream.start();
      fake.addClient('pd_client', 'pd_secret_value');
    });
    afterAll(() => fake.stop());

    const request = (tokenUrl: string) => ({
      clientKey: 'broker-client',
      tokenUrl,
      clientId: 'pd_client',
      scope: null,
      format: 'json' as const,
      proof: { method: 'client_secret_post' as const, clientSecret: 'pd_secret_value' },
      extraParams: {},
      defaultExpiresInSeconds: 3_600,
    });
    const client = (allowlist: string) => {
      const config = parseConfig({ TOKEN_URL_ALLOWLIST: allowlist });
      return new UpstreamClient(config, new MetricsService(), new TracingService(config));
    };

    it('does not connect when an allowlisted host name (localhost) resolves to loopback', async () => {
      const before = fake.requests.length;
      const port = new URL(fake.baseUrl).port;
      for (const host of ['localhost', 'LOCALHOST']) {
        const outcome = await client('http://localhost').requestToken(request(`http://${host}:${port}/v1/oauth/token`));
        expect(outcome).toEqual({
          kind: 'rejected',
          httpStatus: null,
          error: 'address_not_allowed',
          description: expect.stringContaining('loopback'),
        });
      }
      expect(fake.requests.length).toBe(before);
    });

    it('connects to a loopback address the allowlist names itself', async () => {
      const outcome = await client('http://127.0.0.1').requestToken(request(fake.tokenUrl));
      expect(outcome).toMatchObject({ kind: 'token' });
    });

    it('connects by name when the allowlist names the address that name resolves to', async () => {
      const port = new URL(fake.baseUrl).port;
      const lookup = guardedLookup(allowlistOf('http://localhost,http://127.0.0.1,http://[::1]'));
      const resolved = await new Promise<string>((resolve) =>
        lookup('localhost', {}, (error, address) =>
          resolve(error ? 'refused' : typeof address === 'string' ? address : ''),
        ),
      );
      expect(['127.0.0.1', '::1']).toContain(resolved);
      if (resolved === '127.0.0.1') {
        const outcome = await client('http://localhost,http://127.0.0.1,http://[::1]').requestToken(
          request(`http://localhost:${port}/v1/oauth/token`),
        );
        expect(outcome).toMatchObject({ kind: 'token' });
      }
    });
  });
});
