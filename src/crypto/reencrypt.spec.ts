import { MemoryStore } from '../store/memory.store';
import { initialStatus, type ClientRecord } from '../store/store.types';
import { openMaterial, sealMaterial, type ClientMaterial } from '../client-auth/sealed-material';
import { reencryptAll } from './reencrypt';
import { SecretBox } from './secret-box';

const key = (kid: string, fill: number) => ({ kid, key: Buffer.alloc(32, fill) });

describe('re-encryption of every kind of sealed material', () => {
  it('seals secrets, private keys and certificates again under the first key; each opens to what it was', async () => {
    const store = new MemoryStore();
    const old = new SecretBox([key('old', 1)]);
    const materials: Record<string, ClientMaterial> = {
      cl_secret: { kind: 'secret', secret: 'a-shared-secret' },
      cl_jwt: { kind: 'private_key', privateKey: '-----BEGIN PRIVATE KEY-----\nJWT\n-----END PRIVATE KEY-----\n' },
      cl_tls: {
        kind: 'certificate',
        privateKey: 'tls key',
        certificate: '-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n',
      },
    };
    const methods = { cl_secret: 'client_secret_post', cl_jwt: 'private_key_jwt', cl_tls: 'tls_client_auth' } as const;
    for (const [id, material] of Object.entries(materials)) {
      const client: ClientRecord = {
        id,
        workspaceId: 'o_1',
        name: id,
        type: 'oauth_client_credentials',
        clientId: id,
        tokenUrl: 'https://idp/token',
        scope: null,
        tokenRequestFormat: id === 'cl_secret' ? 'json' : 'form',
        tokenEndpointAuthMethod: methods[id as keyof typeof methods],
        secretHint: '',
        generation: 1,
        createdAt: '',
        updatedAt: '',
        ...sealMaterial(old, id, material),
      };
      await store.insertClient({ client, status: initialStatus(), token: null }, Date.now());
    }
    const ring = new SecretBox([key('new', 2), key('old', 1)]);
    const report = await reencryptAll(store, ring);
    expect(report).toEqual({ clients: 3, reencrypted: 3, unreadable: [], failed: [] });
    const onlyNew = new SecretBox([key('new', 2)]);
    for (const [id, material] of Object.entries(materials)) {
      const entry = await store.getClient(id);
      if (!entry) throw new Error(`${id} is gone`);
      const sealed = Object.entries(entry.client).filter(
        ([field, value]) => field.startsWith('sealed') && typeof value === 'string',
      );
      expect(sealed.length).toBeGreaterThan(0);
      for (const [, value] of sealed) expect(SecretBox.keyIdOf(value as string)).toBe('new');
      expect(openMaterial(onlyNew, entry.client)).toEqual(material);
    }
    expect(await reencryptAll(store, ring)).toEqual({ clients: 3, reencrypted: 0, unreadable: [], failed: [] });
  });
});
