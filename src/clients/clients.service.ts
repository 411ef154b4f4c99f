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
import { initialStatus, type ClientEntry, type ClientRecord } from '../store/store.types';
import { RefreshFacade } from '../refresh/refresh.facade';
import { UsageRecorder } from '../usage/usage-recorder';
import { secretHintOf, toClientView, type ClientView } from './client-view';
import type { CreateClientDto } from './dto/create-client.dto';
import type { RotateSecretDto } from './dto/rotate-secret.dto';
import type { UpdateClientDto } from './dto/update-client.dto';
import { checkTokenUrl } from './token-url';

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
      for (const field of ['clientId', 'clientSecret', 'tokenUrl', 'scope', 'tokenRequestFormat'] as const) {
        if (dto[field] !== undefined) problems.push({ field, problems: [`${field} is not used by api_key clients`] });
      }
      if (dto.apiKey === undefined) problems.push(required('apiKey', dto.type));
      return dto.apiKey === undefined ? null : { type: 'api_key', secret: dto.apiKey };
    }
    if (dto.apiKey !== undefined) {
      problems.push({ field: 'apiKey', problems: ['apiKey is only for api_key clients; send clientSecret'] });
    }
    const tokenUrl = this.tokenUrlOrProblem(dto.tokenUrl ?? this.config.defaultTokenUrl, problems);
    const { clientId, clientSecret } = dto;
    if (clientId === undefined) problems.push(required('clientId', dto.type));
    if (clientSecret === undefined) problems.push(required('clientSecret', dto.type));
    if (tokenUrl === null || clientId === undefined || clientSecret === undefined) return null;
    return { type: dto.type, clientId, secret: clientSecret, tokenUrl, scope: dto.scope ?? null };
  }

  private async insert(dto: CreateClientDto, credentials: NewCredentials, actor: Principal): Promise<ClientView> {
    // Refreshes of the tokens already held come first (the measured 55 s above was 25 s with the cap alone).
    await this.refresh.caughtUp(REFRESH_BACKLOG_WAIT_MS);
    const id = newClientId();
    const { secret } = credentials;
    const now = new Date().toISOString();
    const sealed = {
      tokenRequestFormat: dto.tokenRequestFormat ?? 'json',
      secretHint: secretHintOf(secret),
      sealedSecret: this.box.seal(secret, secretContext(id)),
      generation: 1,
      createdAt: now,
      updatedAt: now,
    };
    const named = { id, workspaceId: dto.workspaceId, name: dto.name };
    const client: ClientRecord =
      credentials.type === 'api_key'
        ? { ...named, type: 'api_key', clientId: null, tokenUrl: null, scope: null, ...sealed }
        : {
            ...named,
            type: 'oauth_client_credentials',
            clientId: credentials.clientId,
            tokenUrl: credentials.tokenUrl,
            scope: credentials.scope,
            ...sealed,
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
   * Renaming changes nothing else. A new token URL, scope or request format
   * changes what a token is obtained with, so the held token is dropped and a
   * new one fetched.
   */
  async update(id: string, dto: UpdateClientDto, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const next = this.updated(client, dto);
    const tokenInputsChanged =
      next.tokenUrl !== client.tokenUrl || next.scope !== client.scope || next.tokenRequestFormat !== client.tokenRequestFormat;
    const change: ClientChange = tokenInputsChanged
      ? { client: { ...next, generation: client.generation + 1 }, token: null, status: initialStatus() }
      : { client: next };
    const updated = await this.commit(entry, change, tokenInputsChanged ? Date.now() : undefined);
    await this.audit.record(actor, 'client.update', id, client.workspaceId);
    return this.view(updated);
  }

  /**
   * Replaces the secret (or API key) only once the upstream has accepted it,
   * unless verify is false. On refusal the old secret stays in force.
   */
  async rotateSecret(id: string, dto: RotateSecretDto, verify: boolean, actor: Principal): Promise<ClientView> {
    const entry = await this.entry(id);
    const { client } = entry;
    const oauth = client.type === 'oauth_client_credentials';
    const secret = oauth ? dto.clientSecret : dto.apiKey;
    const wrongField = oauth ? 'apiKey' : 'clientSecret';
    const rightField = oauth ? 'clientSecret' : 'apiKey';
    if (secret === undefined || dto[wrongField] !== undefined) {
      throw invalid([{ field: dto[wrongField] !== undefined ? wrongField : rightField, problems: [`send ${rightField} to rotate a ${client.type} client`] }]);
    }

    const now = Date.now();
    const rotated: ClientRecord = {
      ...client,
      secretHint: secretHintOf(secret),
      sealedSecret: this.box.seal(secret, secretContext(id)),
      generation: client.generation + 1,
      updatedAt: new Date(now).toISOString(),
    };
    let change: ClientChange = { client: rotated, token: null, status: initialStatus() };
    let dueAt = now;
    if (verify) {
      const verified = await this.refresh.verify({ ...entry, client: rotated }, secret);
      change = { client: rotated, token: verified.token, status: verified.status };
      dueAt = verified.dueAt;
    }
    const updated = await this.commit(entry, change, dueAt);
    await this.audit.record(actor, 'client.rotate_secret', id, client.workspaceId);
    return this.view(updated);
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
      for (const field of ['tokenUrl', 'scope', 'tokenRequestFormat'] as const) {
        if (dto[field] !== undefined) problems.push({ field, problems: [`${field} is not used by api_key clients`] });
      }
      if (problems.length > 0) throw invalid(problems);
      return { ...client, name: dto.name ?? client.name, updatedAt };
    }
    const tokenUrl = dto.tokenUrl === undefined ? client.tokenUrl : this.tokenUrlOrProblem(dto.tokenUrl, problems);
    if (problems.length > 0 || tokenUrl === null) throw invalid(problems);
    return {
      ...client,
      name: dto.name ?? client.name,
      tokenUrl,
      scope: dto.scope === undefined ? client.scope : dto.scope,
      tokenRequestFormat: dto.tokenRequestFormat ?? client.tokenRequestFormat,
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
  | { type: 'oauth_client_credentials'; clientId: string; secret: string; tokenUrl: string; scope: string | null }
  | { type: 'api_key'; secret: string };

function required(field: string, type: string): FieldProblem {
  return { field, problems: [`${field} is required for ${type} clients`] };
}

function invalid(details: FieldProblem[]): BrokerError {
  return new BrokerError('bad_request', `Invalid ${details.map((d) => d.field).join(', ')}`, { details });
}
