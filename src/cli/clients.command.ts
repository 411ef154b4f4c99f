import { Command, Option } from 'commander';
import { isKeyMethod } from '../client-auth/provider-settings';
import type { ClientView } from '../clients/client-view';
import type { TokenEndpointAuthMethod } from '../store/store.types';
import type { BrokerApi } from './api-client';
import {
  addSecretOptions,
  addSettingsOptions,
  CERTIFICATE_FILE_HELP,
  definedOnly,
  positiveInteger,
  PRIVATE_KEY_FILE_HELP,
  settingsBody,
  type KeyMaterialOptions,
  type SettingsOptions,
} from './client-options';
import { printClient, printClientTable } from './client-print';
import { registerImportCommand } from './clients-import.command';
import { registerRotate } from './clients-rotate.command';
import { emit, UsageError, type OutputOptions } from './output';
import { confirmOrRefuse, readPemFile, readSecret, type SecretSourceOptions } from './secrets';

const LIST_PAGE_SIZE = 500;
const STATES = ['pending', 'ready', 'failing', 'rejected'];

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

interface ListOptions extends OutputOptions {
  workspace?: string;
  state?: string;
  limit?: number;
}

interface AddOptions extends OutputOptions, SecretSourceOptions, SettingsOptions, KeyMaterialOptions {
  workspace: string;
  name: string;
  type: string;
  clientId?: string;
}

interface UpdateOptions extends OutputOptions, SettingsOptions {
  name?: string;
  clearScope?: boolean;
  clearKeyId?: boolean;
  clearSigningAlg?: boolean;
  clearExtraParams?: boolean;
}

export function registerClientsCommands(program: Command, api: () => BrokerApi): void {
  const clients = program.command('clients').description('register and manage clients (credential sets)');
  registerList(clients, api);
  registerGet(clients, api);
  registerAdd(clients, api);
  registerUpdate(clients, api);
  registerRotate(clients, api);
  registerRemove(clients, api);
  registerImportCommand(clients, api);
}

function registerList(clients: Command, api: () => BrokerApi): void {
  clients
    .command('list')
    .description('list clients, in id order')
    .option('--workspace <id>', 'only this workspace')
    .addOption(new Option('--state <state>', 'only clients in this state').choices(STATES))
    .option('--limit <n>', 'at most this many', positiveInteger)
    .option('--json', 'JSON for scripts')
    .action(async (options: ListOptions) => {
      const items = await listClients(api(), options);
      emit(options, items, () => printClientTable(items));
    });
}

function registerGet(clients: Command, api: () => BrokerApi): void {
  clients
    .command('get <id>')
    .description("one client's settings and status")
    .option('--json', 'JSON for scripts')
    .action(async (id: string, options: OutputOptions) => {
      const client = await api().get<ClientView>(`/v1/clients/${encodeURIComponent(id)}`);
      emit(options, client, () => printClient(client));
    });
}

function registerAdd(clients: Command, api: () => BrokerApi): void {
  addSecretOptions(
    addSettingsOptions(
      clients
        .command('add')
        .description(
          'register a client; its secret, API key or PEM key is read from a file, stdin or a hidden prompt, never an argument',
        )
        .requiredOption('--workspace <id>', 'the workspace (tenant) id')
        .requiredOption('--name <name>', 'a name for people')
        .addOption(
          new Option('--type <type>', 'client type')
            .choices(['oauth_client_credentials', 'api_key'])
            .default('oauth_client_credentials'),
        )
        .option('--client-id <id>', 'OAuth client id (oauth_client_credentials)')
        .option('--token-url <url>', "token URL (default: the broker's DEFAULT_TOKEN_URL)")
        .option('--scope <scope>', 'OAuth scope'),
    )
      .option('--private-key-file <path>', PRIVATE_KEY_FILE_HELP)
      .option('--certificate-file <path>', CERTIFICATE_FILE_HELP),
  ).action(async (options: AddOptions) => {
    const client = await api().post<ClientView>('/v1/clients', await addBody(options));
    emit(options, client, () => printClient(client));
  });
}

function registerUpdate(clients: Command, api: () => BrokerApi): void {
  addSettingsOptions(
    clients
      .command('update <id>')
      .description("change a client's name or provider settings (secret material changes with rotate)")
      .option('--name <name>', 'a new name')
      .option('--token-url <url>', 'a new token URL')
      .option('--scope <scope>', 'a new scope'),
  )
    .option('--clear-scope', 'remove the scope')
    .option('--clear-key-id', 'remove the key id (private_key_jwt)')
    .option('--clear-signing-alg', "sign with the key type's default algorithm (private_key_jwt)")
    .option('--clear-extra-params', 'remove every extra parameter')
    .option('--json', 'JSON for scripts')
    .action(async (id: string, options: UpdateOptions) => {
      const body = updateBody(options);
      if (Object.keys(body).length === 0)
        throw new UsageError('Nothing to change: give --name, --token-url, --scope, --format or another setting');
      const client = await api().patch<ClientView>(`/v1/clients/${encodeURIComponent(id)}`, body);
      emit(options, client, () => printClient(client));
    });
}

function registerRemove(clients: Command, api: () => BrokerApi): void {
  clients
    .command('rm <id>')
    .description('delete a client and its tokens')
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .action(async (id: string, options: { yes?: boolean }) => {
      if (!(await confirmOrRefuse(options.yes, `Delete client ${id} and its tokens?`))) {
        process.stderr.write('Nothing deleted.\n');
        return;
      }
      await api().delete(`/v1/clients/${encodeURIComponent(id)}`);
      process.stderr.write(`Deleted client ${id}.\n`);
    });
}

async function addBody(options: AddOptions): Promise<Record<string, unknown>> {
  const oauth = options.type === 'oauth_client_credentials';
  const keyFiles = options.privateKeyFile !== undefined || options.certificateFile !== undefined;
  const method = options.authMethod ?? (keyFiles ? impliedKeyMethod(options) : undefined);
  if (!oauth && (keyFiles || options.authMethod !== undefined))
    throw new UsageError('api_key clients take an API key only: no --auth-method or key files');
  if (method !== undefined && isKeyMethod(method)) {
    if (options.privateKeyFile === undefined)
      throw new UsageError(`${method} needs --private-key-file PATH (- for stdin)`);
    if (method === 'tls_client_auth' && options.certificateFile === undefined)
      throw new UsageError('tls_client_auth needs --certificate-file PATH as well');
    if (method === 'private_key_jwt' && options.certificateFile !== undefined)
      throw new UsageError('private_key_jwt takes no certificate: leave out --certificate-file');
    if (options.secretFile !== undefined || options.secretStdin)
      throw new UsageError(`${method} clients have no client secret: leave out --secret-file and --secret-stdin`);
  } else if (keyFiles) {
    throw new UsageError(`${method} clients take a client secret, not key files`);
  }
  const body: Record<string, unknown> = {
    ...definedOnly({
      workspaceId: options.workspace,
      name: options.name,
      type: options.type,
      clientId: options.clientId,
      tokenUrl: options.tokenUrl,
      scope: options.scope,
    }),
    ...settingsBody(options),
    ...(method !== undefined && { tokenEndpointAuthMethod: method }),
  };
  if (options.privateKeyFile !== undefined) body.privateKey = await readPemFile(options.privateKeyFile, 'private key');
  if (options.certificateFile !== undefined)
    body.clientCertificate = await readPemFile(options.certificateFile, 'certificate');
  if (!oauth) body.apiKey = await readSecret(options, 'API key');
  else if (method === undefined || !isKeyMethod(method)) body.clientSecret = await readSecret(options, 'client secret');
  return body;
}

/** Key files without --auth-method: a certificate means mutual TLS, a key alone a signed assertion. */
function impliedKeyMethod(options: KeyMaterialOptions): TokenEndpointAuthMethod {
  return options.certificateFile !== undefined ? 'tls_client_auth' : 'private_key_jwt';
}

function updateBody(options: UpdateOptions): Record<string, unknown> {
  const clash = (flag: string, value: unknown, clear: boolean | undefined) => {
    if (value !== undefined && clear) throw new UsageError(`Give ${flag} or its --clear- option, not both`);
  };
  clash('--scope', options.scope, options.clearScope);
  clash('--key-id', options.keyId, options.clearKeyId);
  clash('--signing-alg', options.signingAlg, options.clearSigningAlg);
  clash('--extra-param', options.extraParam, options.clearExtraParams);
  return {
    ...definedOnly({ name: options.name, tokenUrl: options.tokenUrl, scope: options.scope }),
    ...settingsBody(options),
    ...(options.clearScope && { scope: null }),
    ...(options.clearKeyId && { keyId: null }),
    ...(options.clearSigningAlg && { signingAlg: null }),
    ...(options.clearExtraParams && { extraParams: {} }),
  };
}

async function listClients(api: BrokerApi, options: ListOptions): Promise<ClientView[]> {
  const wanted = options.limit ?? Number.POSITIVE_INFINITY;
  const found: ClientView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<Page<ClientView>>('/v1/clients', {
      workspaceId: options.workspace,
      limit: LIST_PAGE_SIZE,
      cursor,
    });
    found.push(...page.items.filter((client) => options.state === undefined || client.status.state === options.state));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && found.length < wanted);
  return found.slice(0, wanted);
}
