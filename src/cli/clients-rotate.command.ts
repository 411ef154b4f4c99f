import type { Command } from 'commander';
import { isKeyMethod } from '../client-auth/provider-settings';
import type { ClientView } from '../clients/client-view';
import type { BrokerApi } from './api-client';
import {
  addSecretOptions,
  CERTIFICATE_FILE_HELP,
  definedOnly,
  PRIVATE_KEY_FILE_HELP,
  type KeyMaterialOptions,
} from './client-options';
import { printClient } from './client-print';
import { emit, UsageError, type OutputOptions } from './output';
import { readPemFile, readSecret, type SecretSourceOptions } from './secrets';

interface RotateOptions extends OutputOptions, SecretSourceOptions, KeyMaterialOptions {
  keyId?: string;
  verify: boolean;
}

export function registerRotate(clients: Command, api: () => BrokerApi): void {
  addSecretOptions(
    clients
      .command('rotate <id>')
      .description("replace a client's secret, API key or key material; the broker checks it with the upstream first")
      .option('--private-key-file <path>', `the new ${PRIVATE_KEY_FILE_HELP}`)
      .option('--certificate-file <path>', `the new ${CERTIFICATE_FILE_HELP}`)
      .option('--key-id <kid>', "private_key_jwt: the new key's kid (without it, assertions carry none)")
      .option('--no-verify', 'store it without asking the upstream first'),
  ).action(async (id: string, options: RotateOptions) => {
    // Read what was given first: a missing file is a usage error, whatever the broker would say.
    const given = await readGivenMaterial(options);
    const path = `/v1/clients/${encodeURIComponent(id)}`;
    const current = await api().get<ClientView>(path);
    const body = await rotationBody(current, options, given);
    const client = await api().put<ClientView>(`${path}/secret`, body, options.verify ? undefined : { verify: false });
    emit(options, client, () => printClient(client));
  });
}

interface GivenMaterial {
  secret?: string;
  privateKey?: string;
  clientCertificate?: string;
}

async function readGivenMaterial(options: SecretSourceOptions & KeyMaterialOptions): Promise<GivenMaterial> {
  const given: GivenMaterial = {};
  if (options.privateKeyFile !== undefined) given.privateKey = await readPemFile(options.privateKeyFile, 'private key');
  if (options.certificateFile !== undefined)
    given.clientCertificate = await readPemFile(options.certificateFile, 'certificate');
  if (options.secretFile !== undefined || options.secretStdin)
    given.secret = await readSecret(options, 'new client secret or API key');
  return given;
}

/** The rotation body of the client's method: `clientSecret`, `apiKey`, `{ privateKey, keyId? }` or `{ clientCertificate, privateKey }`. */
async function rotationBody(
  client: ClientView,
  options: RotateOptions,
  given: GivenMaterial,
): Promise<Record<string, string>> {
  const method = client.type === 'api_key' ? null : client.tokenEndpointAuthMethod;
  const keyFiles = given.privateKey !== undefined || given.clientCertificate !== undefined;
  if (method === null || !isKeyMethod(method)) {
    const what = method === null ? 'API key' : 'client secret';
    if (keyFiles || options.keyId !== undefined)
      throw new UsageError(
        `Client ${client.id} uses ${method ?? 'an API key'}: give the new ${what} with --secret-file or --secret-stdin, not key files or --key-id`,
      );
    const secret = given.secret ?? (await readSecret(options, `new ${what}`));
    return method === null ? { apiKey: secret } : { clientSecret: secret };
  }
  if (given.secret !== undefined)
    throw new UsageError(`Client ${client.id} uses ${method}: give --private-key-file, not a secret`);
  if (given.privateKey === undefined)
    throw new UsageError(
      `Client ${client.id} uses ${method}: give the new key with --private-key-file PATH (- for stdin)`,
    );
  if (method === 'private_key_jwt') {
    if (given.clientCertificate !== undefined)
      throw new UsageError(`Client ${client.id} uses private_key_jwt, which takes no certificate`);
    return definedOnly({ privateKey: given.privateKey, keyId: options.keyId });
  }
  if (options.keyId !== undefined) throw new UsageError('--key-id is for private_key_jwt clients');
  if (given.clientCertificate === undefined)
    throw new UsageError(
      `Client ${client.id} uses tls_client_auth: give the new certificate with --certificate-file PATH as well`,
    );
  return { clientCertificate: given.clientCertificate, privateKey: given.privateKey };
}
