import { Command, InvalidArgumentError, Option } from 'commander';
import type { ClientView } from '../clients/client-view';
import type { BrokerApi } from './api-client';
import { registerImportCommand } from './clients-import.command';
import { emit, printFields, printTable, UsageError, type OutputOptions } from './output';
import {
  confirmOrRefuse,
  readSecret,
  readTextFile,
  SECRET_FILE_HELP,
  SECRET_STDIN_HELP,
  type SecretSourceOptions,
} from './secrets';

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

interface AddOptions extends OutputOptions, SecretSourceOptions {
  workspace: string;
  name: string;
  type: string;
  clientId?: string;
  tokenUrl?: string;
  scope?: string;
  format?: string;
  authMethod?: string;
  privateKeyFile?: string;
  certificateFile?: string;
  keyId?: string;
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
    clients
      .command('add')
      .description('register a client; the secret is read from a file, stdin or a hidden prompt, never an argument')
      .requiredOption('--workspace <id>', 'the workspace (tenant) id')
      .requiredOption('--name <name>', 'a name for people')
      .addOption(
        new Option('--type <type>', 'client type')
          .choices(['oauth_client_credentials', 'api_key'])
          .default('oauth_client_credentials'),
      )
      .option('--client-id <id>', 'OAuth client id (oauth_client_credentials)')
      .option('--token-url <url>', "token URL (default: the broker's DEFAULT_TOKEN_URL)")
      .option('--scope <scope>', 'OAuth scope')
      .addOption(new Option('--format <format>', 'token request format').choices(['json', 'form']))
      .option('--auth-method <method>', 'tokenEndpointAuthMethod, where the broker supports it')
      .option('--private-key-file <path>', 'PEM private key (private_key_jwt, tls_client_auth), where supported')
      .option('--certificate-file <path>', 'PEM client certificate (tls_client_auth), where supported')
      .option('--key-id <kid>', 'keyId for private_key_jwt, where supported'),
  ).action(async (options: AddOptions) => {
    const client = await api().post<ClientView>('/v1/clients', await addBody(options));
    emit(options, client, () => printClient(client));
  });
}

function registerUpdate(clients: Command, api: () => BrokerApi): void {
  clients
    .command('update <id>')
    .description('change name, token URL, scope or request format')
    .option('--name <name>', 'a new name')
    .option('--token-url <url>', 'a new token URL')
    .option('--scope <scope>', 'a new scope')
    .addOption(new Option('--format <format>', 'token request format').choices(['json', 'form']))
    .option('--json', 'JSON for scripts')
    .action(
      async (
        id: string,
        options: OutputOptions & { name?: string; tokenUrl?: string; scope?: string; format?: string },
      ) => {
        const body = definedOnly({
          name: options.name,
          tokenUrl: options.tokenUrl,
          scope: options.scope,
          tokenRequestFormat: options.format,
        });
        if (Object.keys(body).length === 0)
          throw new UsageError('Nothing to change: give --name, --token-url, --scope or --format');
        const client = await api().patch<ClientView>(`/v1/clients/${encodeURIComponent(id)}`, body);
        emit(options, client, () => printClient(client));
      },
    );
}

function registerRotate(clients: Command, api: () => BrokerApi): void {
  addSecretOptions(
    clients
      .command('rotate <id>')
      .description("replace a client's secret or API key; the broker checks it with the upstream first")
      .option('--no-verify', 'store it without asking the upstream first'),
  ).action(async (id: string, options: OutputOptions & SecretSourceOptions & { verify: boolean }) => {
    // Read first: a missing file or no way to ask is a usage error, whatever the broker would say.
    const secret = await readSecret(options, 'new client secret or API key');
    const path = `/v1/clients/${encodeURIComponent(id)}`;
    const current = await api().get<ClientView>(path);
    const field = current.type === 'api_key' ? 'apiKey' : 'clientSecret';
    const client = await api().put<ClientView>(
      `${path}/secret`,
      { [field]: secret },
      options.verify ? undefined : { verify: false },
    );
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

function addSecretOptions(command: Command): Command {
  return command
    .option('--secret-file <path>', SECRET_FILE_HELP)
    .option('--secret-stdin', SECRET_STDIN_HELP)
    .option('--json', 'JSON for scripts');
}

async function addBody(options: AddOptions): Promise<Record<string, unknown>> {
  const oauth = options.type === 'oauth_client_credentials';
  const keyMaterial = options.privateKeyFile !== undefined || options.certificateFile !== undefined;
  const body: Record<string, unknown> = definedOnly({
    workspaceId: options.workspace,
    name: options.name,
    type: options.type,
    clientId: options.clientId,
    tokenUrl: options.tokenUrl,
    scope: options.scope,
    tokenRequestFormat: options.format,
    tokenEndpointAuthMethod: options.authMethod,
    keyId: options.keyId,
  });
  if (options.privateKeyFile !== undefined) body.privateKey = await readTextFile(options.privateKeyFile, 'private key');
  if (options.certificateFile !== undefined)
    body.clientCertificate = await readTextFile(options.certificateFile, 'certificate');
  if (!oauth) body.apiKey = await readSecret(options, 'API key');
  else if (!keyMaterial || options.secretFile !== undefined || options.secretStdin)
    body.clientSecret = await readSecret(options, 'client secret');
  return body;
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

function printClientTable(items: ClientView[]): void {
  printTable(
    ['ID', 'WORKSPACE', 'NAME', 'TYPE', 'CLIENT ID', 'STATE', 'TOKEN EXPIRES'],
    items.map((c) => [c.id, c.workspaceId, c.name, c.type, c.clientId, c.status.state, c.status.tokenExpiresAt]),
  );
}

export function printClient(c: ClientView): void {
  printFields([
    ['id', c.id],
    ['workspace', c.workspaceId],
    ['name', c.name],
    ['type', c.type],
    ['client id', c.clientId],
    ['token url', c.tokenUrl],
    ['scope', c.scope],
    ['request format', c.tokenRequestFormat],
    ['secret hint', `...${c.secretHint}`],
    ['state', c.status.state],
    ['token expires', c.status.tokenExpiresAt],
    ['last refresh', c.status.lastRefreshAt],
    ['last error', c.status.lastError],
    ['failing since', c.status.failingSince],
    ['created', c.createdAt],
    ['updated', c.updatedAt],
  ]);
}

export function positiveInteger(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('Not a positive whole number.');
  return value;
}

function definedOnly(fields: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
