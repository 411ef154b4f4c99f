import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { BrokerError, type FieldProblem } from '../common/broker-error';
import { FifoLimiter } from '../common/fifo-limiter';
import { newClientId } from '../common/ids';
import { toPage, type Page, type PageQueryDto } from '../common/page-query';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { SecretBox, secretContext } from '../crypto/secret-box';
import { BROKER_STORE, DuplicateClientError, type BrokerStore, type ClientChange } from '../store/broker-store';
import {
  initialStatus,
  type ClientEntry,
  type ClientRecord,
  type OAuthClientRecord,
  type TokenEndpointAuthMethod,
} from '../store/store.types';
import { RefreshFacade } from '../refresh/refresh.facade';
import { UsageRecorder } from '../usage/usage-recorder';
import { secretHintOf, toClientView, type ClientView } from './client-view';
import type { CreateClientDto } from './dto/create-client.dto';
import type { RotateSecretDto } from './dto/rotate-secret.dto';
import type { UpdateClientDto } from './dto/update-client.dto';
import { checkTokenUrl } from './token-url';
import { checkMaterial, checkRotation, methodAndFormat, patchedSettings, type CheckedMaterial } from './oauth-settings';
import { authMethodOf, defaultExpiresInOf, extraParamsOf } from '../client-auth/provider-settings';
import { openMaterial, sealMaterial } from '../client-auth/sealed-material';

/**
 * Registrations and deletions in progress at once on one replica; the rest
 * wait their turn. A bulk import sent with many connections would otherwise
 * take every cycle of the event loop, and refreshes of the tokens already
 * held would fall behind (measured: 55 s late at p99 while 100,000 clients
 * registered at 64 in flight, 12 ms once registration was over).
 */
const BULK_WRITES_IN_FLIGHT = 8;
/** While refreshes are behind, a registration waits for them this long at most (then goes ahead). */
const REFRESH_BACKLOG_WAIT_MS = 500;

@Injectable()
export class ClientsService {
  private readonly writes = new FifoLimiter(BULK_WRITES_IN_FLIGHT);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BROKER_STORE) private readonly store: BrokerStore,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly refresh: RefreshFacade,
    private readonly usage: UsageRecorder,
  ) {}

  /** Registers the client; its first token is fetched right after, in the background. */
  async create(dto: CreateClientDto, actor: Principal): Promise<ClientView> {
    const problems: FieldProblem[] = [];
    const credentials = this.credentialsOf(dto, problems);
    if (problems.length > 0 || credentials === null) throw invalid(problems);
    return this.writes.run(() => this.insert(dto, credentials, actor));
  }

  /** What the new client obtains tokens with, or null with the problems found. */
  private credentialsOf(dto: CreateClientDto, problems: FieldProblem[]): NewCredentials | null {
    if (dto.type === 'api_key') {
      for (const field of NOT_FOR_API_KEYS) {
        if (dto[field] !== undefined) problems.push({ field, problems: [`${field} is not used by api_key clients`] });
      }
      if (dto.apiKey === undefined) problems.push(required('apiKey', dto.type));
      return dto.apiKey === undefined ? null : { type: 'api_key', secret: dto.apiKey };
    }
    if (dto.apiKey !== undefined) {
      problems.push({ field: 'apiKey', problems: ['apiKey is only for api_key clients; send clientSecret'] });
    }
    const tokenUrl = this.tokenUrlOrProblem(dto.tokenUrl ?? this.config.defaultTokenUrl, problems);
    const { clientId } = dto;
    if (clientId === undefined) problems.push(required('clientId', dto.type));
    const { method, format } = methodAndFormat(dto, problems);
    const checked = checkMaterial(method, dto, problems, Date.now());
    if (method === 'tls_client_auth' && tokenUrl?.startsWith('http:')) problems.push(TLS_NEEDS_HTTPS);
    const extraParams = dto.extraParams ?? {};
    if (tokenUrl === null || clientId === undefined || checked === null) return null;
    const settings = {
      tokenRequestFormat: format,
      tokenEndpointAuthMethod: method,
      extraParams,
      defaultExpiresInSeconds: dto.defaultExpiresInSeconds,
    };
    return { type: dto.type, clientId, tokenUrl, scope: dto.scope ?? null, checked, settings };
  }

  private async insert(dto: CreateClientDto, credentials: NewCredentials, actor: Principal): Promise<ClientView> {
    // Refreshes of the tokens already held come first (the measured 55 s above was 25 s with the cap alone).
    await this.refresh.caughtUp(REFRESH_BACKLOG_WAIT_MS);
    const id = newClientId();
    const now = new Date().toISOString();
    const stamped = { generation: 1, createdAt: now, updatedAt: now };
    const named = { id, workspaceId: dto.workspaceId, name: dto.name };
    const client: ClientRecord =
      credentials.type === 'api_key'
        ? {
            ...named,
            type: 'api_key',
            clientId: null,
            tokenUrl: null,
            scope: null,
            tokenRequestFormat: 'json',
            secretHint: secretHintOf(credentials.secret),
            sealedSecret: this.box.seal(credentials.secret, secretContext(id)),
            ...stamped,
          }
        : {
            ...named,
            type: 'oauth_client_credentials',
            clientId: credentials.clientId,
            tokenUrl: credentials.tokenUrl,
            scope: credentials.scope,
            ...credentials.settings,
            ...sealedRecordFields(this.box, id, credentials.checked),
            ...stamped,
          };
    const entry: ClientEntry = { client, status: initialStatus(), token: null };
    try {
      await this.store.insertClient(entry, Date.now());
    } catch (error) {
      if (error instanceof DuplicateClientError) {
        throw new BrokerError('conflict', `Workspace ${dto.workspaceId} already has a client with this clientId (${error.existingId})`);
      }
      throw error;
    }
    await this.audit.record(actor, 'client.create', id, client.workspaceId);
    this.refresh.wake();
    return toClientView(entry);
  }

  /** A page of clients, with their usage times read in one more store round trip. */
  async list(query: PageQueryDto): Promise<Page<ClientView>> {
    const fetched = await this.store.listClients({ workspaceId: query.workspaceId, afterId: query.cursor, limit: query.limit + 1 });
    const page = toPage(fetched, query.limit, (entry) => entry.client.id);
    const lastServed = await this.store.lastUsage('clients', page.items.map((entry) => entry.client.id));
    return { items: page.items.map((entry, index) => toClientView(entry, lastServed[index])), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<ClientView> {
    return this.view(await this.entry(id));
  }

  /**
   * Renaming changes nothing else. A new token URL, scope, request format or
   * provider setting changes what a token is obtained with, so the held token
   * is dropped and a new one fetched.
   */
  async update(id: string, dto: UpdateClientDto, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const next = this.updated(client, dto);
    const tokenInputsChanged = JSON.stringify(tokenInputsOf(next)) !== JSON.stringify(tokenInputsOf(client));
    const change: ClientChange = tokenInputsChanged
      ? { client: { ...next, generation: client.generation + 1 }, token: null, status: initialStatus() }
      : { client: next };
    const updated = await this.commit(entry, change, tokenInputsChanged ? Date.now() : undefined);
    await this.audit.record(actor, 'client.update', id, client.workspaceId);
    return this.view(updated);
  }

  /**
   * Replaces the secret, API key, private key or certificate only once the
   * upstream has accepted it, unless verify is false. On refusal the old
   * material stays in force.
   */
  async rotateSecret(id: string, dto: RotateSecretDto, verify: boolean, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const now = Date.now();
    const rotated: ClientRecord = {
      ...this.rotatedMaterial(client, dto, now),
      generation: client.generation + 1,
      updatedAt: new Date(now).toISOString(),
    };
    let change: ClientChange = { client: rotated, token: null, status: initialStatus() };
    let dueAt = now;
    if (verify) {
      const verified = await this.refresh.verify({ ...entry, client: rotated }, openMaterial(this.box, rotated));
      change = { client: rotated, token: verified.token, status: verified.status };
      dueAt = verified.dueAt;
    }
    const updated = await this.commit(entry, change, dueAt);
    await this.audit.record(actor, 'client.rotate_secret', id, client.workspaceId);
    return this.view(updated);
  }

  /** The record with the new material sealed in; 400 for material that does not fit the client's method. */
  private rotatedMaterial(client: ClientRecord, dto: RotateSecretDto, now: number): ClientRecord {
    const problems: FieldProblem[] = [];
    if (client.type === 'api_key') {
      for (const field of ['clientSecret', 'privateKey', 'clientCertificate', 'keyId'] as const) {
        if (dto[field] !== undefined) problems.push({ field, problems: [API_KEY_ROTATION] });
      }
      if (dto.apiKey === undefined) problems.push({ field: 'apiKey', problems: [API_KEY_ROTATION] });
      if (problems.length > 0 || dto.apiKey === undefined) throw invalid(problems);
      const sealedSecret = this.box.seal(dto.apiKey, secretContext(client.id));
      return { ...client, secretHint: secretHintOf(dto.apiKey), sealedSecret };
    }
    if (dto.apiKey !== undefined) {
      const method = authMethodOf(client);
      throw invalid([{ field: 'apiKey', problems: [`send ${ROTATION_MATERIAL[method]} to rotate a ${client.type} client`] }]);
    }
    const checked = checkRotation(client, dto, problems, now);
    if (problems.length > 0 || checked === null) throw invalid(problems);
    return { ...client, ...sealedRecordFields(this.box, client.id, checked) };
  }

  async delete(id: string, actor: Principal): Promise<void> {
    await this.writes.run(async () => {
      const removed = await this.store.deleteClient(id);
      if (!removed) throw BrokerError.notFound('Client');
      await this.forgetUsage(id);
      await this.audit.record(actor, 'client.delete', id, removed.client.workspaceId);
    });
  }

  /** The client view with the client's usage time. */
  private async view(entry: ClientEntry): Promise<ClientView> {
    const [lastServedAt] = await this.store.lastUsage('clients', [entry.client.id]);
    return toClientView(entry, lastServedAt);
  }

  /**
   * A deleted client's usage time goes too. Not worth failing the deletion
   * over: a time left behind (or written back by a replica's late batch) is
   * never read, since client ids are never reused.
   */
  private async forgetUsage(id: string): Promise<void> {
    this.usage.discard('clients', id);
    await this.store.forgetUsage('clients', [id]).catch(() => undefined);
  }

  /** Writes a change fenced on the generation read (the store tells every replica), and reschedules the client when asked. */
  private async commit(entry: ClientEntry, change: ClientChange, dueAt?: number): Promise<ClientEntry> {
    const id = entry.client.id;
    const outcome = await this.store.updateClient(id, entry.client.generation, change);
    if (outcome === 'not_found') throw BrokerError.notFound('Client');
    if (outcome === 'stale') throw new BrokerError('conflict', 'The client changed while this request ran; read it again and retry');
    const updated: ClientEntry = {
      client: change.client ?? entry.client,
      status: change.status ?? entry.status,
      token: change.token === undefined ? entry.token : change.token,
    };
    if (dueAt !== undefined) await this.refresh.schedule(id, dueAt);
    return updated;
  }

  private async entry(id: string): Promise<ClientEntry> {
    const entry = await this.store.getClient(id);
    if (!entry) throw BrokerError.notFound('Client');
    return entry;
  }

  /** The record with the changes asked for; throws 400 for changes this client's type does not have. */
  private updated(client: ClientRecord, dto: UpdateClientDto): ClientRecord {
    const problems: FieldProblem[] = [];
    const updatedAt = new Date().toISOString();
    if (client.type === 'api_key') {
      for (const field of UPDATES_NOT_FOR_API_KEYS) {
        if (dto[field] !== undefined) problems.push({ field, problems: [`${field} is not used by api_key clients`] });
      }
      if (problems.length > 0) throw invalid(problems);
      return { ...client, name: dto.name ?? client.name, updatedAt };
    }
    const tokenUrl = dto.tokenUrl === undefined ? client.tokenUrl : this.tokenUrlOrProblem(dto.tokenUrl, problems);
    const settings = patchedSettings(client, dto, problems);
    if (authMethodOf(settings) === 'tls_client_auth' && tokenUrl?.startsWith('http:')) problems.push(TLS_NEEDS_HTTPS);
    if (problems.length > 0 || tokenUrl === null) throw invalid(problems);
    return {
      ...settings,
      name: dto.name ?? client.name,
      tokenUrl,
      scope: dto.scope === undefined ? client.scope : dto.scope,
      updatedAt,
    };
  }

  private tokenUrlOrProblem(raw: string, problems: FieldProblem[]): string | null {
    const checked = checkTokenUrl(raw, this.config.tokenUrlAllowlist);
    if ('problem' in checked) {
      problems.push({ field: 'tokenUrl', problems: [checked.problem] });
      return null;
    }
    return checked.url;
  }
}

/** What a new client obtains tokens with, by type. */
type NewCredentials =
  | {
      type: 'oauth_client_credentials';
      clientId: string;
      tokenUrl: string;
      scope: string | null;
      checked: CheckedMaterial;
      settings: Pick<
        OAuthClientRecord,
        'tokenRequestFormat' | 'tokenEndpointAuthMethod' | 'extraParams' | 'defaultExpiresInSeconds'
      >;
    }
  | { type: 'api_key'; secret: string };

const API_KEY_ROTATION = 'send apiKey to rotate a api_key client';
/** What a rotation of each method sends. */
const ROTATION_MATERIAL: Record<TokenEndpointAuthMethod, string> = {
  client_secret_post: 'clientSecret',
  client_secret_basic: 'clientSecret',
  private_key_jwt: 'privateKey',
  tls_client_auth: 'clientCertificate and privateKey',
};
const TLS_NEEDS_HTTPS: FieldProblem = { field: 'tokenUrl', problems: ['tls_client_auth needs an https tokenUrl'] };

const NOT_FOR_API_KEYS = [
  'clientId',
  'clientSecret',
  'tokenUrl',
  'scope',
  'tokenRequestFormat',
  'tokenEndpointAuthMethod',
  'privateKey',
  'clientCertificate',
  'keyId',
  'signingAlg',
  'extraParams',
  'defaultExpiresInSeconds',
] as const;
const UPDATES_NOT_FOR_API_KEYS = [
  'tokenUrl',
  'scope',
  'tokenRequestFormat',
  'tokenEndpointAuthMethod',
  'keyId',
  'signingAlg',
  'extraParams',
  'defaultExpiresInSeconds',
] as const;

/** Everything a token is obtained with, but the material (a rotation bumps the generation itself). */
function tokenInputsOf(client: ClientRecord): unknown[] {
  if (client.type === 'api_key') return [];
  const { tokenUrl, scope, tokenRequestFormat, keyId, signingAlg } = client;
  return [tokenUrl, scope, tokenRequestFormat, authMethodOf(client), keyId ?? null, signingAlg ?? null,
    extraParamsOf(client), defaultExpiresInOf(client), client.sealedCertificate ?? null];
}

/** The record fields checked material decides, its secret parts sealed. */
function sealedRecordFields(box: SecretBox, id: string, checked: CheckedMaterial) {
  const { material, secretHint, keyId, signingAlg, certificateExpiresAt } = checked;
  return { secretHint, keyId, signingAlg, certificateExpiresAt, ...sealMaterial(box, id, material) };
}

function required(field: string, type: string): FieldProblem {
  return { field, problems: [`${field} is required for ${type} clients`] };
}

function invalid(details: FieldProblem[]): BrokerError {
  return new BrokerError('bad_request', `Invalid ${details.map((d) => d.field).join(', ')}`, { details });
}
