import type { ClientEntry } from '../store.types';
import { decodeStatus, encodeClient, encodeStatus, encodeToken, parseEntry } from './redis-entry-codec';

const full: ClientEntry = {
  client: {
    id: 'cl_1',
    workspaceId: 'ws_1',
    name: 'Acme',
    type: 'oauth_client_credentials',
    clientId: 'acme',
    tokenUrl: 'https://auth.example/token',
    scope: 'read write',
    tokenRequestFormat: 'form',
    tokenEndpointAuthMethod: 'private_key_jwt',
    extraParams: { audience: 'api' },
    defaultExpiresInSeconds: 600,
    secretHint: 'abcd',
    sealedSecret: null,
    sealedPrivateKey: 'v1.k1.key',
    sealedCertificate: null,
    keyId: 'kid-1',
    signingAlg: 'ES256',
    certificateExpiresAt: '2027-01-01T00:00:00.000Z',
    generation: 7,
    createdAt: '2025-01-01T00:00:00.000Z',
    // Not the form toISOString writes: kept as the string it is.
    updatedAt: '2025-01-01T00:00:00Z',
  },
  status: {
    state: 'failing',
    tokenExpiresAt: '2025-01-01T01:00:00.000Z',
    lastRefreshAt: null,
    lastError: 'HTTP 500',
    failingSince: '2025-01-01T00:30:00.000Z',
    consecutiveFailures: 3,
    nextAttemptAt: 1_735_691_400_000,
    lastForcedRefreshAt: null,
  },
  token: {
    sealedAccessToken: 'v1.k1.token',
    expiresAt: 1_735_693_200_000,
    obtainedAt: 1_735_689_600_000,
    generation: 7,
  },
};

/** The hash fields of an entry in the compact layout, each part in one field (chunks are the scripts' job). */
function compactFields(entry: ClientEntry): Record<string, string> {
  return {
    c: encodeClient(entry.client),
    s: encodeStatus(entry.status),
    ...(entry.token ? { t: encodeToken(entry.token) } : {}),
    gen: String(entry.client.generation),
    state: entry.status.state,
  };
}

describe('redis-entry-codec', () => {
  it('reads back every property exactly, nulls, defaults and unknown properties included', () => {
    expect(parseEntry('cl_1', compactFields(full))).toEqual(full);
    const withExtra = { ...full, client: { ...full.client, addedLater: 'x' } as unknown as ClientEntry['client'] };
    expect(parseEntry('cl_1', compactFields(withExtra))).toEqual(withExtra);
    const fresh: ClientEntry = {
      ...full,
      client: { ...full.client, scope: null, sealedSecret: 'v1.k1.s' },
      status: { ...full.status, state: 'pending', lastError: null, failingSince: null, consecutiveFailures: 0 },
      token: null,
    };
    expect(parseEntry('cl_1', compactFields(fresh))).toEqual(fresh);
  });

  it('leaves out what the key and the other fields hold, and stores canonical times as epoch ms', () => {
    const client = JSON.parse(encodeClient(full.client)) as Record<string, unknown>;
    expect(client).not.toHaveProperty('id');
    expect(client).not.toHaveProperty('g');
    expect(client.ca).toBe(Date.parse('2025-01-01T00:00:00.000Z'));
    expect(client.ua).toBe('2025-01-01T00:00:00Z');
    // Enumerations by a letter; nulls other than defaults listed together.
    expect([client.y, client.f, client.m]).toEqual(['o', 'f', 'j']);
    expect(client.z).toBe('ce');
    expect(JSON.parse(encodeStatus({ ...full.status, lastError: null, consecutiveFailures: 0 }))).toEqual({
      e: Date.parse('2025-01-01T01:00:00.000Z'),
      fs: '2025-01-01T00:30:00.000Z',
      na: 1_735_691_400_000,
    });
  });

  it('reads the full JSON of the layout before, which wins over a part', () => {
    const legacy = {
      client: JSON.stringify(full.client),
      status: JSON.stringify(full.status),
      token: JSON.stringify(full.token),
      gen: '7',
      state: 'failing',
    };
    expect(parseEntry('cl_1', legacy)).toEqual(full);
    expect(parseEntry('cl_1', { ...compactFields({ ...full, token: null }), token: legacy.token })).toEqual(full);
    expect(decodeStatus(legacy.status, 'failing')).toEqual(full.status);
  });

  it('joins a part split in chunks, and finds no client in a hash without one', () => {
    const json = encodeClient(full.client);
    const chunks = { c: json.slice(0, 10), c1: json.slice(10, 20), c2: json.slice(20) };
    expect(parseEntry('cl_1', { ...compactFields(full), ...chunks })).toEqual(full);
    expect(parseEntry('cl_1', {})).toBeNull();
    expect(parseEntry('cl_1', { iseq: '3', unindexed: '3' })).toBeNull();
  });
});
